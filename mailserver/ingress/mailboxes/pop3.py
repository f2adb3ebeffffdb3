"""POP3 mailboxes (RFC 1939), with STLS (RFC 2595) or implicit TLS.

POP3 applies ``DELE`` only at ``QUIT`` (the UPDATE state), so a session that
breaks off leaves every message on the server: the fetcher asks for deletion
only after storing, and :meth:`Pop3Source.close` sends the ``QUIT``.
"""

from __future__ import annotations

import contextlib
import poplib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from mailserver.ingress.mailboxes.base import (
    Item,
    MailboxError,
    MailboxUnavailable,
    Source,
    error_text,
)
from mailserver.ingress.mailboxes.config import DELETE
from mailserver.ingress.mailboxes.imap import tls_context

#: RFC 2449 / RFC 3206 response codes that mean "try again later", not "wrong password".
TEMPORARY = ("[IN-USE]", "[SYS/TEMP]", "[LOGIN-DELAY]")


class Pop3Source(Source):
    """A POP3 maildrop, identified message by message with ``UIDL``."""

    def __init__(self, config) -> None:
        super().__init__(config)
        self.connection: poplib.POP3 | None = None

    @contextmanager
    def errors(self, doing: str) -> Iterator[None]:
        try:
            yield
        except OSError as exc:
            raise MailboxUnavailable(f"{self}: {doing} failed: {exc}") from exc
        except poplib.error_proto as exc:
            raise MailboxError(f"{self}: {doing} failed: {error_text(exc)}") from exc

    def open(self) -> None:
        config = self.config
        context = tls_context(config.cafile) if config.uses_tls else None
        with self.errors("connecting"):
            if config.scheme == "pop3s":
                self.connection = poplib.POP3_SSL(
                    config.host, config.port, timeout=config.timeout, context=context
                )
            else:
                self.connection = poplib.POP3(config.host, config.port, timeout=config.timeout)
                if config.starttls:
                    self.connection.stls(context)
        try:
            self.connection.user(config.user)
            self.connection.pass_(config.password)
        except poplib.error_proto as exc:
            self.close()
            if any(code in error_text(exc) for code in TEMPORARY):
                raise MailboxUnavailable(f"{self}: {error_text(exc)}") from exc
            raise self.login_refused(exc) from exc
        except OSError as exc:
            raise MailboxUnavailable(f"{self}: logging in failed: {exc}") from exc

    def list(self) -> list[Item]:
        with self.errors("listing"):
            sizes = dict(_pairs(self.connection.list()[1]))
            try:
                uids = dict(_pairs(self.connection.uidl()[1]))
            except poplib.error_proto:
                uids = {}  # UIDL is optional (RFC 1939 section 7): identify by content
        return [
            Item(uid=uids.get(number), handle=number, size=int(size))
            for number, size in sizes.items()
        ]

    def read(self, items: Iterable[Item]) -> Iterator[tuple[Item, bytes]]:
        for item in items:
            with self.errors("RETR"):
                # poplib strips the terminating line and undoes dot-stuffing.
                lines = self.connection.retr(int(item.handle))[1]
            yield item, b"\r\n".join(lines) + b"\r\n"

    def finish(self, items: list[Item]) -> None:
        if self.config.action != DELETE:
            return  # "keep": the de-duplication records stop a second fetch
        with self.errors("DELE"):
            for item in items:
                self.connection.dele(int(item.handle))

    def needs_finish(self, item: Item) -> bool:
        return self.config.action == DELETE

    def close(self) -> None:
        connection, self.connection = self.connection, None
        if connection is None:
            return
        try:
            connection.quit()  # applies the DELEs: everything asked for is stored
        except Exception:
            with contextlib.suppress(Exception):  # the connection is already gone
                connection.close()


def _pairs(lines: list[bytes]) -> Iterator[tuple[str, str]]:
    for line in lines:
        number, _, value = line.decode("ascii", "replace").partition(" ")
        yield number, value.strip()
