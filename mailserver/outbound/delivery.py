"""Hand a queued message to the delivery backend, whichever kind it is.

Our SMTP backend (anything with a ``deliver()`` method) reports one reply per
recipient. Any other Django email backend (django-ses, Anymail, console,
locmem) gets a Django ``EmailMessage`` built around the stored bytes; then
success means every recipient was accepted and an exception is a temporary
failure of every recipient.
"""

from __future__ import annotations

import email
import email.policy
import smtplib
import traceback
from collections.abc import Sequence
from email.utils import getaddresses

import django
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.utils.module_loading import import_string

from mailserver.backends.base import Delivery, Reply
from mailserver.conf import settings as app_settings
from mailserver.exceptions import MailServerConfigurationError

# Headers an EmailMessage builds itself from its attributes.
STRUCTURAL_HEADERS = {
    "content-type",
    "content-transfer-encoding",
    "mime-version",
    "subject",
    "from",
    "to",
    "cc",
    "bcc",
    "reply-to",
}
# Errors a network or a provider outage raises: retried, never held against the message.
TRANSIENT_ERRORS = (OSError, smtplib.SMTPException, TimeoutError, ConnectionError)


def mailers_configured() -> bool:
    """Whether this Django has ``MAILERS`` (6.1+) and the project uses it."""
    return django.VERSION >= (6, 1) and hasattr(settings, "MAILERS")


def get_delivery_backend(name: str | None = None):
    """Return a fresh instance of ``MAILSERVER_DELIVERY_BACKEND`` (an alias or a dotted path)."""
    name = name or app_settings.DELIVERY_BACKEND
    if mailers_configured():
        from django.core.mail import mailers

        if name in mailers:
            backend = mailers[name]
            _refuse_queue_as_delivery(backend, name)
            return backend
        raise MailServerConfigurationError(
            f"MAILSERVER_DELIVERY_BACKEND is {name!r}, which is not an alias of MAILERS. "
            "With MAILERS, add an alias for the delivery backend (for example 'delivery' "
            "with BACKEND 'mailserver.backends.smtp.DeliveryBackend' and its OPTIONS) and "
            "name it in MAILSERVER_DELIVERY_BACKEND."
        )
    try:
        klass = import_string(name)
    except ImportError as exc:
        raise MailServerConfigurationError(
            f"MAILSERVER_DELIVERY_BACKEND = {name!r} cannot be imported ({exc}); set it to "
            "the dotted path of an email backend such as "
            "'mailserver.backends.smtp.DeliveryBackend'."
        ) from exc
    backend = klass()
    _refuse_queue_as_delivery(backend, name)
    return backend


def _refuse_queue_as_delivery(backend, name: str) -> None:
    from mailserver.backends.queued import QueuedEmailBackend

    if isinstance(backend, QueuedEmailBackend):
        raise MailServerConfigurationError(
            f"MAILSERVER_DELIVERY_BACKEND ({name!r}) is the queued backend, so the worker "
            "would queue every message again. Point it at the backend that really sends, "
            "such as 'mailserver.backends.smtp.DeliveryBackend'."
        )


def backend_label(backend) -> str:
    return (
        getattr(backend, "alias", None) or f"{type(backend).__module__}.{type(backend).__name__}"
    )


class RawEmailMessage(EmailMultiAlternatives):
    """A Django ``EmailMessage`` whose ``message()`` is the stored bytes, unchanged.

    The attributes (subject, body, to, extra headers) are filled from those
    bytes for backends that read them instead, such as API-based ones.
    """

    def __init__(self, raw: bytes, from_email: str, recipients: Sequence[str]) -> None:
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        wanted = {a.lower(): a for a in recipients}

        def pick(header: str) -> list[str]:
            found = []
            for _, address in getaddresses([str(v) for v in parsed.get_all(header, [])]):
                if address.lower() in wanted:
                    found.append(wanted.pop(address.lower()))
            return found

        to, cc = pick("To"), pick("Cc")
        text = parsed.get_body(preferencelist=("plain",))
        html = parsed.get_body(preferencelist=("html",))
        headers = {k: str(v) for k, v in parsed.items() if k.lower() not in STRUCTURAL_HEADERS}
        super().__init__(
            subject=str(parsed.get("Subject", "")),
            body=text.get_content() if text is not None else "",
            from_email=str(parsed.get("From", from_email)),
            to=to,
            cc=cc,
            bcc=list(wanted.values()),
            headers=headers,
        )
        if html is not None:
            self.attach_alternative(html.get_content(), "text/html")
        self.raw = raw
        self.envelope_from = from_email
        self._parsed = parsed

    def message(self, *args, **kwargs):
        return self._parsed


def deliver(backend, envelope_from: str, recipients: Sequence[str], raw: bytes) -> Delivery:
    """Send ``raw`` through ``backend``; never raises."""
    if hasattr(backend, "deliver"):
        try:
            return backend.deliver(envelope_from, recipients, raw)
        except Exception as exc:
            return _failed(recipients, exc)
    try:
        message = RawEmailMessage(raw, envelope_from, recipients)
        sent = backend.send_messages([message])
    except Exception as exc:
        return _failed(recipients, exc)
    if sent == 0:
        reply = Reply(451, f"4.3.0 {backend_label(backend)} reported the message as not sent")
        return Delivery({a: reply for a in recipients}, error=reply.text)
    reply = Reply(250, f"2.0.0 Accepted by {backend_label(backend)}")
    return Delivery({a: reply for a in recipients})


def _failed(recipients: Sequence[str], exc: Exception) -> Delivery:
    reply = Reply(451, f"4.3.0 {type(exc).__name__}: {exc}")
    return Delivery(
        {a: reply for a in recipients},
        error=traceback.format_exc(),
        poison=not isinstance(exc, TRANSIENT_ERRORS),
    )
