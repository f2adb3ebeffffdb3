"""IMAP mailboxes (RFC 3501), with IDLE (RFC 2177) for ``fetchmail --watch``."""

from __future__ import annotations

import contextlib
import ssl
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError, LoginError

from mailserver.ingress.mailboxes.base import (
    Item,
    MailboxError,
    MailboxUnavailable,
    Source,
    error_text,
)
from mailserver.ingress.mailboxes.config import KEEP, MOVE

SEEN, DELETED = rb"\Seen", rb"\Deleted"
#: Bodies fetched per round trip: few enough to bound memory with large messages.
FETCH_CHUNK = 20
#: How long one wait on the IDLE socket lasts, so a SIGTERM is noticed within it.
IDLE_SLICE = 1.0


def tls_context(cafile: str | None) -> ssl.SSLContext:
    """A verifying context; ``cafile`` for a private CA (not the machine's bundle)."""
    return ssl.create_default_context(cafile=cafile)


class ImapSource(Source):
    """One IMAP folder. Messages are read with ``BODY.PEEK[]`` so they stay unseen."""

    can_wait = True

    def __init__(self, config) -> None:
        super().__init__(config)
        self.folder = config.folder
        self.client: IMAPClient | None = None

    @contextmanager
    def errors(self, doing: str) -> Iterator[None]:
        """Turn the library's exceptions into ours, naming the mailbox."""
        try:
            yield
        except (IMAPClientAbortError, OSError) as exc:  # ssl.SSLError is an OSError
            raise MailboxUnavailable(f"{self}: {doing} failed: {exc}") from exc
        except IMAPClientError as exc:
            raise MailboxError(f"{self}: {doing} failed: {error_text(exc)}") from exc

    def open(self) -> None:
        config = self.config
        context = tls_context(config.cafile) if config.uses_tls else None
        with self.errors("connecting"):
            self.client = IMAPClient(
                config.host,
                config.port,
                ssl=config.scheme == "imaps",
                ssl_context=context,
                timeout=config.timeout,
            )
            if config.starttls:
                self.client.starttls(context)
        try:
            self.client.login(config.user, config.password)
        except LoginError as exc:
            self.close()
            raise self.login_refused(exc) from exc
        with self.errors(f"selecting folder {self.folder!r}"):
            selected = self.client.select_folder(self.folder)
            self.uidvalidity = int(selected[b"UIDVALIDITY"])
            if config.action == MOVE and not self.client.folder_exists(config.move_to):
                self.client.create_folder(config.move_to)

    def list(self) -> list[Item]:
        criteria = ["UNDELETED", "UNSEEN"] if self.config.unseen_only else ["UNDELETED"]
        with self.errors("searching"):
            uids = self.client.search(criteria)
            if not uids:
                return []
            data = self.client.fetch(uids, ["RFC822.SIZE", "FLAGS"])
        return [
            Item(
                uid=str(uid),
                handle=uid,
                size=data[uid].get(b"RFC822.SIZE"),
                seen=SEEN in data[uid].get(b"FLAGS", ()),
            )
            for uid in sorted(data)
        ]

    def read(self, items: Iterable[Item]) -> Iterator[tuple[Item, bytes]]:
        items = list(items)
        for start in range(0, len(items), FETCH_CHUNK):
            chunk = {item.handle: item for item in items[start : start + FETCH_CHUNK]}
            with self.errors("fetching"):
                # PEEK: a plain BODY[] would set \Seen before the message is stored.
                data = self.client.fetch(list(chunk), ["BODY.PEEK[]"])
            for uid, item in chunk.items():
                if uid in data and b"BODY[]" in data[uid]:  # absent: expunged meanwhile
                    yield item, data[uid][b"BODY[]"]

    def finish(self, items: list[Item]) -> None:
        client, action = self.client, self.config.action
        uids = [item.handle for item in items]
        if not uids:
            return
        with self.errors(f"{action} of fetched messages"):
            if action == KEEP:
                unseen = [item.handle for item in items if not item.seen]
                if unseen:
                    client.add_flags(unseen, [SEEN], silent=True)
            elif action == MOVE and client.has_capability("MOVE"):
                client.move(uids, self.config.move_to)  # RFC 6851
            else:
                if action == MOVE:
                    client.copy(uids, self.config.move_to)
                client.add_flags(uids, [DELETED], silent=True)
                if client.has_capability("UIDPLUS"):
                    # RFC 4315: expunge only our messages, not others flagged \Deleted.
                    client.uid_expunge(uids)
                else:
                    client.expunge()

    def wait(self, stop: threading.Event) -> None:
        """IDLE until the server reports a change, re-issuing it every ``IDLE_INTERVAL``."""
        client = self.client
        if not client.has_capability("IDLE"):
            stop.wait(self.config.poll_interval)
            with self.errors("NOOP"):
                client.noop()
            return
        deadline = time.monotonic() + self.config.idle_interval
        with self.errors("IDLE"):
            client.idle()
            try:
                while not stop.is_set() and (left := deadline - time.monotonic()) > 0:
                    timeout = min(IDLE_SLICE, left)
                    started = time.monotonic()
                    responses = client.idle_check(timeout=timeout)
                    if any(r[:1] == (b"BYE",) for r in responses):
                        raise MailboxUnavailable(f"{self}: the server ended the session.")
                    if any(len(r) > 1 and r[1] in (b"EXISTS", b"RECENT") for r in responses):
                        return
                    if not responses and time.monotonic() - started < timeout / 2:
                        # The socket was readable yet gave no line: the peer closed it.
                        # idle_done() below raises if so.
                        return
            finally:
                client.idle_done()

    def close(self) -> None:
        client, self.client = self.client, None
        if client is None:
            return
        try:
            client.logout()
        except Exception:
            with contextlib.suppress(Exception):  # the connection is already gone
                client.shutdown()
