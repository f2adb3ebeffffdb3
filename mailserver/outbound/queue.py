"""Put messages on the outbound queue.

A message is rendered once, here, and stored as raw bytes with one row per
envelope recipient; the worker sends exactly those bytes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from email.generator import BytesGenerator
from email.message import Message
from email.policy import Compat32
from email.utils import getaddresses, parseaddr
from io import BytesIO

from django.core.mail import EmailMessage, make_msgid
from django.core.mail.utils import DNS_NAME
from django.db import router, transaction
from django.utils import timezone

from mailserver import statements
from mailserver.bounces import unsubscribe
from mailserver.conf import settings as app_settings
from mailserver.exceptions import QueueFull
from mailserver.outbound import wakeup

PRIORITIES = {"high": 0, "normal": 1, "low": 2}
# Message-IDs per lookup; keeps SQLite under its limit of query parameters.
BATCH_SIZE = 500


def priority_value(priority: str | int) -> int:
    """Turn ``"high"``/``"normal"``/``"low"`` (or a ``Priority``) into the stored number."""
    if isinstance(priority, int):
        if priority not in PRIORITIES.values():
            raise ValueError(f"Unknown priority {priority!r}; use 'high', 'normal' or 'low'.")
        return int(priority)
    try:
        return PRIORITIES[priority]
    except KeyError:
        raise ValueError(
            f"Unknown priority {priority!r}; use 'high', 'normal' or 'low'."
        ) from None


def envelope_address(value: str) -> str:
    """Return the bare address of ``"Name <addr>"`` for the SMTP envelope."""
    return parseaddr(str(value))[1] or str(value).strip()


def given_message_id(message: EmailMessage) -> str | None:
    """Return the Message-ID the caller set on ``message``, if any."""
    for name, value in message.extra_headers.items():
        if name.lower() == "message-id" and value:
            return str(value).strip()
    return None


class PlainHeaderLines(Compat32):
    """``compat32`` without its folding machinery where a header line needs none.

    Django before 6.0 renders with ``compat32``, which passes every header, however
    short, through ``email.header.Header``: most of what ``as_bytes()`` costs, and so
    of a bulk enqueue. A short plain ASCII line comes out of it unchanged, so it is
    written as it is (tests/test_outbound_queue.py holds the two to the same bytes).
    """

    def fold_binary(self, name: str, value) -> bytes:
        if (
            isinstance(value, str)
            and value.isascii()
            and value.isprintable()  # no control character: Header splits lines on some
            and self.max_line_length
            and len(name) + 2 + len(value) <= self.max_line_length
        ):
            return f"{name}: {value}{self.linesep}".encode("ascii")
        return super().fold_binary(name, value)


PLAIN_HEADER_LINES = PlainHeaderLines()


def as_bytes(mime: Message) -> bytes:
    """Return ``mime.as_bytes()``, faster for Django's ``compat32`` messages."""
    if type(mime.policy) is not Compat32:
        return mime.as_bytes()
    out = BytesIO()
    BytesGenerator(out, mangle_from_=False, policy=PLAIN_HEADER_LINES).flatten(mime, linesep="\n")
    return out.getvalue()


def render(message: EmailMessage) -> tuple[str, bytes, str, list[str]]:
    """Return ``(message_id, raw_bytes, envelope_sender, recipients)`` for ``message``.

    The Message-ID is fixed here (Django would otherwise invent a new one at every
    ``message()``), so it stays the same however often the message is rendered.
    """
    message_id = given_message_id(message)
    if not message_id:
        message_id = make_msgid(domain=DNS_NAME)
        message.extra_headers = {**message.extra_headers, "Message-ID": message_id}
    raw = as_bytes(message.message())
    recipients: list[str] = []
    seen: set[str] = set()
    for _, address in getaddresses([str(a) for a in message.recipients()]):
        if address and address.lower() not in seen:
            seen.add(address.lower())
            recipients.append(address)
    return message_id, raw, envelope_address(message.from_email), recipients


def enqueue(
    message: EmailMessage | Sequence[EmailMessage],
    priority: str | int = "normal",
    send_at: datetime | None = None,
    expires_at: datetime | None = None,
):
    """Queue ``message`` (or a list of them) and return the ``OutboundMessage`` row(s).

    ``send_at`` schedules it; ``expires_at`` (default ``send_at`` or now, plus
    ``MAILSERVER_MAX_AGE``) is when it is given up as ``expired``. A message
    whose Message-ID is already queued is not queued twice.
    """
    if isinstance(message, EmailMessage):
        [row] = enqueue_many([message], priority=priority, send_at=send_at, expires_at=expires_at)
        return row
    return enqueue_many(message, priority=priority, send_at=send_at, expires_at=expires_at)


def enqueue_many(
    messages: Iterable[EmailMessage],
    priority: str | int = "normal",
    send_at: datetime | None = None,
    expires_at: datetime | None = None,
) -> list:
    """Queue many messages in a few queries; return their rows in the same order."""
    from mailserver.models import OutboundMessage, OutboundRecipient
    from mailserver.models.outbound import RecipientStatus
    from mailserver.suppression import normalize, suppressed_among

    level = priority_value(priority)
    now = timezone.now()
    due = send_at or now
    if expires_at is None and app_settings.MAX_AGE is not None:
        expires_at = due + app_settings.MAX_AGE
    messages = list(messages)
    # Only a Message-ID the caller chose can already be queued; ours are new.
    given = [message_id for m in messages if (message_id := given_message_id(m))]
    for m in messages:  # issue 5: List-Unsubscribe on bulk mail, before the one render
        unsubscribe.add_headers(m, level)
    rendered = [render(m) for m in messages]
    using = router.db_for_write(OutboundMessage)

    with transaction.atomic(using=using):
        existing = {
            row.message_id: row
            for start in range(0, len(given), BATCH_SIZE)
            for row in OutboundMessage.objects.using(using).filter(
                message_id__in=given[start : start + BATCH_SIZE]
            )
        }
        new = {}
        for (message_id, raw, sender, recipients), source in zip(rendered, messages, strict=True):
            if message_id in existing or message_id in new:
                continue
            new[message_id] = (
                OutboundMessage(
                    message_id=message_id,
                    from_email=sender,
                    subject=" ".join(str(source.subject).split())[:255],
                    raw=raw,
                    priority=level,
                    created_at=now,
                    send_after=send_at,
                    expires_at=expires_at,
                    next_attempt_at=due,
                ),
                recipients,
            )
        check_queue_size(len(new), using)
        rows = [row for row, _ in new.values()]
        statements.insert(rows, using=using)
        suppressed = suppressed_among(a for _, recipients in new.values() for a in recipients)
        recipient_rows = []
        for row, (_, recipients) in zip(rows, new.values(), strict=True):
            for address in recipients:
                is_suppressed = normalize(address) in suppressed
                recipient_rows.append(
                    OutboundRecipient(
                        message=row,
                        address=address,
                        status=RecipientStatus.SUPPRESSED
                        if is_suppressed
                        else RecipientStatus.QUEUED,
                        last_reply="suppressed at enqueue" if is_suppressed else "",
                    )
                )
        statements.insert(recipient_rows, using=using)
        _finish_unsendable(rows, recipient_rows, using)
        if rows:
            wakeup.notify(using)
            if app_settings.USE_TASKS:
                from mailserver.outbound.tasks import schedule_drain

                schedule_drain(using)
    by_id = existing | {row.message_id: row for row in rows}
    return [by_id[message_id] for message_id, *_ in rendered]


def notify_workers(using: str | None = None) -> None:
    """Wake idle workers (after an admin action, say) in a transaction of its own."""
    from mailserver.models import OutboundMessage

    using = using or router.db_for_write(OutboundMessage)
    with transaction.atomic(using=using):
        wakeup.notify(using)


def check_queue_size(adding: int, using: str) -> None:
    """Raise ``QueueFull`` if ``adding`` more messages would pass ``MAILSERVER_MAX_QUEUE_SIZE``."""
    from mailserver.models import OutboundMessage
    from mailserver.models.outbound import MessageStatus

    limit = app_settings.MAX_QUEUE_SIZE
    if limit is None or not adding:
        return
    waiting = (
        OutboundMessage.objects.using(using)
        .filter(status__in=[MessageStatus.QUEUED, MessageStatus.DEFERRED, MessageStatus.SENDING])
        .count()
    )
    if waiting + adding > limit:
        raise QueueFull(
            f"The outbound queue holds {waiting} messages; adding {adding} would pass "
            f"MAILSERVER_MAX_QUEUE_SIZE = {limit}."
        )


def _finish_unsendable(rows, recipient_rows, using: str) -> None:
    """Mark messages whose every recipient is suppressed (or that have none) as failed."""
    from mailserver.models import OutboundMessage
    from mailserver.models.outbound import MessageStatus, RecipientStatus

    sendable = {r.message_id for r in recipient_rows if r.status == RecipientStatus.QUEUED}
    dead = [row.pk for row in rows if row.pk not in sendable]
    if dead:
        OutboundMessage.objects.using(using).filter(pk__in=dead).update(
            status=MessageStatus.FAILED, last_error="No recipient left to send to."
        )
        for row in rows:
            if row.pk in dead:
                row.status = MessageStatus.FAILED
