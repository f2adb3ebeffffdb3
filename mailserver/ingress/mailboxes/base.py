"""What every mailbox source offers the fetcher, and the errors it raises."""

from __future__ import annotations

import hashlib
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from mailserver.exceptions import MailServerError
from mailserver.ingress.mailboxes.config import KEEP, MailboxConfig


class MailboxError(MailServerError):
    """A mailbox could not be read; the message says which and why."""


class MailboxLoginError(MailboxError):
    """The server refused the credentials: retrying will not help."""


class MailboxUnavailable(MailboxError):
    """The server or the database could not be reached: try again later."""


@dataclass
class Item:
    """One message as the mailbox lists it, before its bytes are read."""

    uid: str | None  # the server's stable id; None when only the content can identify it
    handle: Any  # what the source needs to read or remove it (IMAP UID, POP3 number, path)
    size: int | None = None
    seen: bool = False


class Source(ABC):
    """An open session with one mailbox.

    The fetcher calls :meth:`open`, then :meth:`list`, :meth:`read` and
    :meth:`finish` (only for messages already committed), and :meth:`close`.
    """

    #: Part of the de-duplication key (RFC 3501 section 2.3.1.1: a UID is only
    #: unique within its folder and UIDVALIDITY).
    folder: str = ""
    uidvalidity: int = 0
    #: Whether :meth:`wait` can wait for new mail on the open session (IMAP);
    #: otherwise ``--watch`` closes the session and opens a new one to poll.
    can_wait: bool = False

    def __init__(self, config: MailboxConfig) -> None:
        self.config = config

    @abstractmethod
    def open(self) -> None:
        """Connect and log in; raise :class:`MailboxLoginError` or :class:`MailboxUnavailable`."""

    @abstractmethod
    def list(self) -> list[Item]:
        """The messages to consider now (only unseen ones with ``UNSEEN_ONLY``)."""

    @abstractmethod
    def read(self, items: Iterable[Item]) -> Iterator[tuple[Item, bytes]]:
        """Yield each message's raw bytes, without marking it seen."""

    @abstractmethod
    def finish(self, items: list[Item]) -> None:
        """Delete, move or flag ``items``: every one of them is committed to the database."""

    def needs_finish(self, item: Item) -> bool:
        """Whether a message stored by an earlier pass still waits for :meth:`finish`."""
        return self.config.action != KEEP or not item.seen

    @abstractmethod
    def close(self) -> None:
        """End the session, applying what :meth:`finish` asked for; never raise."""

    def content_key(self, raw: bytes) -> str:
        """The key of a message without a server id: a hash of what never changes in it."""
        return "sha256:" + hashlib.sha256(raw).hexdigest()

    def wait(self, stop: threading.Event) -> None:
        """Return when new mail may have arrived, ``stop`` is set, or it is time to look anyway."""
        stop.wait(self.config.poll_interval)

    def login_refused(self, exc: Exception) -> MailboxLoginError:
        return MailboxLoginError(
            f"{self}: the server refused the login: {error_text(exc)}. Check the user and "
            f"password (URL, USER/PASSWORD or USER_ENV/PASSWORD_ENV) of "
            f"MAILSERVER_MAILBOXES[{self.config.name!r}]."
        )

    def __str__(self) -> str:
        return f"mailbox {self.config.name!r} ({self.config.location})"


def error_text(exc: Exception) -> str:
    """The server's words from a protocol library's exception (which may hold bytes)."""
    text = exc.args[0] if exc.args else str(exc)
    return text.decode(errors="replace") if isinstance(text, bytes) else str(text)
