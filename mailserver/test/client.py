"""``MailClient``: run a message through the whole inbound pipeline in a test."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.core.mail import EmailMultiAlternatives

from mailserver.ingress.pipeline import Envelope, receive
from mailserver.status import Result


class MailClient:
    """Send test messages through storage, middleware, routing, the view and outbound.

    Each call returns a list with one :class:`~mailserver.status.Result` per
    envelope recipient: ``.recipient``, ``.response``, ``.smtp_code``,
    ``.smtp_status`` and ``.exit_code``.
    """

    def __init__(self, peer: str = "127.0.0.1", helo: str = "testclient.local") -> None:
        self.peer = peer
        self.helo = helo

    def send(
        self,
        from_email: str,
        to: Sequence[str] | str,
        subject: str = "",
        body: str = "",
        html: str | None = None,
        cc: Sequence[str] = (),
        attachments: Iterable[tuple[str, bytes | str, str]] = (),
        headers: Mapping[str, str] | None = None,
        sender: str | None = None,
    ) -> list[Result]:
        """Build a message like Django's ``EmailMessage`` and receive it."""
        to = [to] if isinstance(to, str) else list(to)
        message = EmailMultiAlternatives(
            subject, body, from_email, to, cc=list(cc), headers=dict(headers or {})
        )
        if html is not None:
            message.attach_alternative(html, "text/html")
        for filename, content, mimetype in attachments:
            message.attach(filename, content, mimetype)
        return self.send_raw(
            message.message().as_bytes(),
            sender=from_email if sender is None else sender,
            recipients=to + list(cc),
        )

    def send_raw(
        self,
        raw: bytes,
        sender: str | None = "",
        recipients: Sequence[str] = (),
        **envelope: Any,
    ) -> list[Result]:
        """Receive ``raw`` bytes with the given envelope, as ``readmail`` would."""
        envelope.setdefault("peer", self.peer)
        envelope.setdefault("helo", self.helo)
        envelope.setdefault("transport", "test")
        return receive(raw, Envelope(sender=sender, recipients=list(recipients), **envelope))
