"""The one pipeline every transport feeds: check, then handle per recipient.

Transports are thin adapters: they turn bytes and an envelope into a call of
:func:`receive` and turn the results into their protocol's reply.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from django.core.signals import setting_changed
from django.dispatch import receiver

from mailserver.conf import settings as app_settings
from mailserver.handlers import MailHandler
from mailserver.request import EmailRequest
from mailserver.status import Outcome, Result


@dataclass
class Envelope:
    """What the transport knows besides the message bytes."""

    sender: str | None = None
    recipients: Sequence[str] = field(default_factory=list)
    peer: str | None = None
    helo: str | None = None
    transport: str = "test"


@cache
def get_handler() -> MailHandler:
    """The process's sync handler, with its middleware chain built once."""
    return MailHandler()


@receiver(setting_changed)
def _reset_handler(*, setting: str, **kwargs: Any) -> None:
    if setting == "MAILSERVER_MIDDLEWARE":
        get_handler.cache_clear()


def check_message(raw: bytes) -> Outcome | None:
    """Return why ``raw`` cannot be accepted at all, or ``None`` if it can."""
    if len(raw) > app_settings.MAX_MESSAGE_SIZE:
        return Outcome.TOO_LARGE
    if not raw.strip():
        return Outcome.MALFORMED
    return None


def make_request(raw: bytes, envelope: Envelope) -> EmailRequest:
    return EmailRequest(
        raw,
        envelope_from=envelope.sender,
        recipients=list(envelope.recipients),
        peer=envelope.peer,
        helo=envelope.helo,
        transport=envelope.transport,
    )


def receive(raw: bytes, envelope: Envelope) -> list[Result]:
    """Handle ``raw`` once for each envelope recipient and return one result each.

    Without envelope recipients (a pipe without ``--recipient``), the To and Cc
    headers name them.
    """
    request = make_request(raw, envelope)
    recipients = list(envelope.recipients) or request.header_recipients
    problem = check_message(raw)
    if problem is not None:
        return [Result(recipient=r, outcome=problem) for r in recipients or [""]]
    if not recipients:
        return [Result(recipient="", outcome=Outcome.NO_ROUTE)]
    handler = get_handler()
    return [handler.handle(request.for_recipient(r)) for r in recipients]
