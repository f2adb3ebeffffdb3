"""The pipe transport: one message on stdin, as an MTA's pipe(8) delivers it."""

from __future__ import annotations

import mailbox
from collections.abc import Iterator
from typing import BinaryIO

from mailserver.conf import settings as app_settings
from mailserver.ingress.pipeline import Envelope, receive
from mailserver.status import Outcome, Result, summarize

# summarize() moved to mailserver.status (SMTP uses it too); importable here as before.
__all__ = ["describe", "mailbox_messages", "read_limited", "receive_stream", "summarize"]


def read_limited(stream: BinaryIO, limit: int) -> bytes | None:
    """Read ``stream`` to the end, or return ``None`` as soon as it exceeds ``limit`` bytes."""
    chunks, size = [], 0
    while chunk := stream.read(min(65536, limit + 1 - size) or 1):
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            return None
    return b"".join(chunks)


def receive_stream(stream: BinaryIO, envelope: Envelope) -> list[Result]:
    """Receive one message from ``stream``, refusing it unread past the size limit."""
    raw = read_limited(stream, app_settings.MAX_MESSAGE_SIZE)
    if raw is None:
        return [
            Result(recipient=r, outcome=Outcome.TOO_LARGE) for r in envelope.recipients or [""]
        ]
    return receive(raw, envelope)


def mailbox_messages(mbox: str | None = None, maildir: str | None = None) -> Iterator[bytes]:
    """Yield the raw bytes of every message in an mbox file or a Maildir."""
    box = mailbox.mbox(mbox, create=False) if mbox else mailbox.Maildir(maildir, create=False)
    for key in box.iterkeys():
        yield box.get_bytes(key)


def describe(result: Result) -> str:
    """One line for stderr, starting with the enhanced status code (pipe(8) reads it)."""
    who = f": {result.recipient}" if result.recipient else ""
    # One line whatever the recipient holds: str.splitlines() also breaks on \x85, U+2028...
    return " ".join(f"{result.status} {result.text}{who}".splitlines())
