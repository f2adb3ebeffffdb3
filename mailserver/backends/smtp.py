"""Deliver to an SMTP server (a smarthost) and keep every recipient's own reply.

Django's SMTP ``EmailBackend`` reports success when *any* recipient was
accepted and hides the others' refusals; a queue that must retry a 451 and
fail a 550 has to talk to smtplib itself. One connection serves a whole batch
of messages, each with its own envelope.
"""

from __future__ import annotations

import re
import smtplib
import ssl
from collections.abc import Sequence

from django.conf import settings
from django.core.mail.backends.base import BaseEmailBackend

from mailserver.backends.base import Delivery, Reply
from mailserver.conf import settings as app_settings

#: Any line end, to send as CRLF. The queue stores messages as Django renders them, with
#: LF line ends; a strict server (aiosmtpd, so runmailserver) reads bare LFs as one line
#: over RFC 5321's limit of 1,000 octets, and smtplib converts only str, not bytes.
BARE_LINE_END = re.compile(rb"\r\n|\n|\r(?!\n)")
#: What a transcript keeps of the message data itself.
DATA_PLACEHOLDER = "<message data, {size} bytes>"
#: Seconds to wait for the smarthost when EMAIL_TIMEOUT is unset (Django then waits
#: forever, and a hung smarthost would hang the worker). Below the default 5-minute
#: lease, so the worker gives up before another one takes its batch over.
DEFAULT_TIMEOUT = 120


class TranscriptSMTP(smtplib.SMTP):
    """An ``smtplib.SMTP`` that can write down the conversation, without the message body."""

    transcript: list[str] | None = None

    def send(self, s) -> None:
        if self.transcript is not None:
            data = s if isinstance(s, bytes) else s.encode("utf-8", "replace")
            if data.count(b"\n") > 1 or len(data) > 1000:
                self.transcript.append("C: " + DATA_PLACEHOLDER.format(size=len(data)))
            else:
                self.transcript.append("C: " + data.decode("utf-8", "replace").rstrip("\r\n"))
        super().send(s)

    def getreply(self):
        code, message = super().getreply()
        if self.transcript is not None:
            text = message.decode("utf-8", "replace").replace("\n", "\nS: ")
            self.transcript.append(f"S: {code} {text}")
        return code, message


class TranscriptSMTP_SSL(TranscriptSMTP, smtplib.SMTP_SSL):
    """Implicit TLS (port 465), with the same transcript."""


class DeliveryBackend(BaseEmailBackend):
    """Send raw messages over SMTP with per-recipient results.

    Options default to Django's ``EMAIL_*`` settings (Django 5.2) or come from
    the ``OPTIONS`` of a ``MAILERS`` alias (Django 6.1+). As a Django email
    backend (``send_messages``) it counts a message sent when any recipient
    accepted it; the queue worker calls :meth:`deliver` to learn more.
    """

    def __init__(
        self,
        host: str | None = None,
        port: int | None = None,
        username: str | None = None,
        password: str | None = None,
        use_tls: bool | None = None,
        use_ssl: bool | None = None,
        timeout: float | None = None,
        ssl_keyfile: str | None = None,
        ssl_certfile: str | None = None,
        local_hostname: str | None = None,
        transcript: bool | None = None,
        fail_silently: bool = False,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.fail_silently = fail_silently
        from_settings = getattr(self, "alias", None) is None
        self.host = host or _setting("EMAIL_HOST", from_settings) or "localhost"
        self.port = port or _setting("EMAIL_PORT", from_settings)
        self.username = (
            username if username is not None else _setting("EMAIL_HOST_USER", from_settings)
        )
        self.password = (
            password if password is not None else _setting("EMAIL_HOST_PASSWORD", from_settings)
        )
        self.use_tls = bool(
            use_tls if use_tls is not None else _setting("EMAIL_USE_TLS", from_settings)
        )
        self.use_ssl = bool(
            use_ssl if use_ssl is not None else _setting("EMAIL_USE_SSL", from_settings)
        )
        self.timeout = timeout if timeout is not None else _setting("EMAIL_TIMEOUT", from_settings)
        if self.timeout is None:
            self.timeout = DEFAULT_TIMEOUT
        self.ssl_keyfile = ssl_keyfile or _setting("EMAIL_SSL_KEYFILE", from_settings)
        self.ssl_certfile = ssl_certfile or _setting("EMAIL_SSL_CERTFILE", from_settings)
        self.local_hostname = local_hostname
        self.transcript = app_settings.SMTP_TRANSCRIPT if transcript is None else transcript
        if self.use_tls and self.use_ssl:
            raise ValueError("use_tls and use_ssl are mutually exclusive; set at most one.")
        if self.port is None:
            self.port = 465 if self.use_ssl else 587 if self.use_tls else 25
        self.connection: TranscriptSMTP | None = None
        self.connections_opened = 0
        self._lines: list[str] = []

    @property
    def ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        if self.ssl_certfile or self.ssl_keyfile:
            context.load_cert_chain(self.ssl_certfile, self.ssl_keyfile)
        return context

    def open(self) -> bool:
        """Connect (and say EHLO, STARTTLS, AUTH) unless already connected."""
        if self.connection is not None:
            return False
        klass = TranscriptSMTP_SSL if self.use_ssl else TranscriptSMTP
        kwargs = {"local_hostname": self.local_hostname, "timeout": self.timeout}
        if self.use_ssl:
            kwargs["context"] = self.ssl_context
        connection = klass(**{k: v for k, v in kwargs.items() if v is not None})
        connection.transcript = self._lines if self.transcript else None
        connection.connect(self.host, self.port)
        self.connection = connection
        self.connections_opened += 1
        try:
            connection.ehlo_or_helo_if_needed()
            if self.use_tls:
                connection.starttls(context=self.ssl_context)
                connection.ehlo()
            if self.username and self.password:
                connection.login(self.username, self.password)
        except BaseException:
            self.close()
            raise
        return True

    def close(self) -> None:
        if self.connection is None:
            return
        try:
            self.connection.quit()
        except (smtplib.SMTPException, OSError):
            self.connection.close()
        finally:
            self.connection = None

    def deliver(self, envelope_from: str, recipients: Sequence[str], raw: bytes) -> Delivery:
        """Send ``raw`` to ``recipients``; return each recipient's reply. Never raises for SMTP."""
        self._lines.clear()
        try:
            self.open()
        except Exception as exc:
            # No server judged the message: a temporary failure, whatever the reason
            # (refused connection, TLS, a rejected login), and never the message's fault.
            self._drop()
            delivery = _all(recipients, Reply(451, f"4.4.1 {exc}"), f"{type(exc).__name__}: {exc}")
            delivery.transcript = "\n".join(self._lines)
            return delivery
        try:
            delivery = self._deliver(envelope_from, list(recipients), raw)
        except smtplib.SMTPServerDisconnected as exc:
            self._drop()
            delivery = _all(recipients, Reply(421, f"4.4.2 Connection lost: {exc}"), str(exc))
        except smtplib.SMTPResponseException as exc:
            # A reply to MAIL FROM, or a 421 the server sent before closing.
            self._reset_or_drop(exc.smtp_code)
            reply = Reply(exc.smtp_code, _text(exc.smtp_error))
            delivery = _all(recipients, reply)
        except (OSError, smtplib.SMTPException) as exc:
            self._drop()
            delivery = _all(recipients, Reply(451, f"4.4.1 {exc}"), f"{type(exc).__name__}: {exc}")
        delivery.transcript = "\n".join(self._lines)
        return delivery

    def _deliver(self, envelope_from: str, recipients: list[str], raw: bytes) -> Delivery:
        connection = self.connection
        assert connection is not None
        mail_options = []
        if not raw.isascii() and connection.has_extn("8bitmime"):
            mail_options.append("BODY=8BITMIME")
        if not (envelope_from + "".join(recipients)).isascii() and connection.has_extn("smtputf8"):
            mail_options.append("SMTPUTF8")
        code, message = connection.mail(envelope_from, mail_options)
        if code != 250:
            self._reset_or_drop(code)
            return _all(recipients, Reply(code, _text(message)))
        replies = {}
        for address in recipients:
            code, message = connection.rcpt(address)
            replies[address] = Reply(code, _text(message))
            if code == 421:
                # RFC 5321 section 3.8: the server is closing the channel.
                self._drop()
                for rest in recipients[len(replies) :]:
                    replies[rest] = replies[address]
                return Delivery(replies)
        accepted = [a for a, r in replies.items() if r.accepted]
        if not accepted:
            connection.rset()
            return Delivery(replies)
        try:
            code, message = connection.data(BARE_LINE_END.sub(b"\r\n", raw))
        except smtplib.SMTPDataError as exc:
            # Refused at DATA (before the body was sent): only the accepted recipients
            # are concerned; those refused at RCPT keep their own reply.
            code, message = exc.smtp_code, exc.smtp_error
        after_data = Reply(code, _text(message))
        for address in accepted:
            replies[address] = after_data
        if code != 250:
            self._reset_or_drop(code)
        return Delivery(replies)

    def _reset_or_drop(self, code: int) -> None:
        if code == 421 or self.connection is None:
            self._drop()
            return
        try:
            self.connection.rset()
        except (smtplib.SMTPException, OSError):
            self._drop()

    def _drop(self) -> None:
        if self.connection is not None:
            try:
                self.connection.close()
            finally:
                self.connection = None

    def send_messages(self, email_messages) -> int:
        """Send Django ``EmailMessage`` objects; count those accepted for any recipient."""
        if not email_messages:
            return 0
        from mailserver.outbound.queue import render

        sent = 0
        try:
            for message in email_messages:
                _, raw, sender, recipients = render(message)
                if not recipients:
                    continue
                delivery = self.deliver(sender, recipients, raw)
                if any(r.accepted for r in delivery.replies.values()):
                    sent += 1
                elif not self.fail_silently:
                    raise smtplib.SMTPRecipientsRefused(
                        {a: (r.code, r.text.encode()) for a, r in delivery.replies.items()}
                    )
        finally:
            self.close()
        return sent


def _setting(name: str, from_settings: bool):
    # With a MAILERS alias (Django 6.1+) the EMAIL_* settings are not read at all:
    # Django forbids them next to MAILERS and deprecates them otherwise.
    return getattr(settings, name, None) if from_settings else None


def _text(message: bytes | str) -> str:
    if isinstance(message, bytes):
        message = message.decode("utf-8", "replace")
    return " ".join(message.split())


def _all(recipients: Sequence[str], reply: Reply, error: str = "") -> Delivery:
    return Delivery({address: reply for address in recipients}, error=error)
