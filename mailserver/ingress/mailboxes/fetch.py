"""Take messages out of a mailbox and through the inbound pipeline, losing none.

The order for each message is: note it as ``fetching`` (a
:class:`~mailserver.models.fetch.FetchedMessage` naming its place on the
server), store it and run its views (the one pipeline), note it ``stored``,
then delete, move or flag the server's copy. A crash anywhere leaves the
message either unknown or ``fetching`` without a stored copy (fetched again),
or stored (only removed next time).
"""

from __future__ import annotations

import email.parser
import email.policy
import hashlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import getaddresses, parseaddr

from django.db import DatabaseError, IntegrityError, close_old_connections, transaction

from mailserver.conf import settings as app_settings
from mailserver.ingress.mailboxes.base import (
    Item,
    MailboxError,
    MailboxLoginError,
    MailboxUnavailable,
    Source,
)
from mailserver.ingress.mailboxes.config import MailboxConfig
from mailserver.ingress.pipeline import Envelope, receive
from mailserver.models.fetch import FetchedMessage
from mailserver.models.inbound import InboundMessage
from mailserver.status import Outcome, Result

logger = logging.getLogger("mailserver.fetchmail")
Status = FetchedMessage.Status

#: Messages handled between two removals on the server.
FINISH_EVERY = 50
#: Keys looked up in one query (below SQLite's 999 bound parameters).
LOOKUP_CHUNK = 500


def make_source(config: MailboxConfig) -> Source:
    """The source class for the URL's scheme; IMAP's library is imported only here."""
    if config.protocol == "imap":
        from mailserver.ingress.mailboxes.imap import ImapSource

        return ImapSource(config)
    if config.protocol == "pop3":
        from mailserver.ingress.mailboxes.pop3 import Pop3Source

        return Pop3Source(config)
    from mailserver.ingress.mailboxes.local import MaildirSource, MboxSource

    return MaildirSource(config) if config.protocol == "maildir" else MboxSource(config)


@dataclass
class FetchReport:
    """What one pass over a mailbox did."""

    mailbox: str
    stored: int = 0  # new messages stored and handled
    failed: int = 0  # of those, stored as failed (a view raised): retry with retrymail
    removed: int = 0  # deleted, moved or flagged on the server
    known: int = 0  # stored by an earlier run (its removal was interrupted)
    refused: int = 0  # refused before storing; left on the server
    inbound_ids: list[int] = field(default_factory=list)

    def __str__(self) -> str:
        text = f"{self.mailbox}: {self.stored} stored"
        if self.failed:
            text += f" ({self.failed} failed, retry with retrymail)"
        if self.known:
            text += f", {self.known} already stored"
        if self.refused:
            text += f", {self.refused} refused and left on the server"
        return text + "."


# --- The envelope -------------------------------------------------------------------


def envelope_for(raw: bytes, config: MailboxConfig) -> Envelope:
    """Rebuild the envelope the delivering MTA saw, from the headers it added.

    The recipient is the configured ``RECIPIENT``, else the topmost of the first
    ``RECIPIENT_HEADERS`` present; with neither, the pipeline routes by To and
    Cc. The sender comes from ``Return-Path`` (RFC 5321 section 4.4).
    """
    headers = _header_section(raw)
    recipients = list(config.recipients)
    if not recipients:
        for name in config.recipient_headers:
            value = headers.get(name)
            found = [address for _, address in getaddresses([str(value)]) if "@" in address]
            if value is not None and found:
                recipients = found
                break
    return_path = headers.get("Return-Path")
    sender = parseaddr(str(return_path))[1] if return_path is not None else None
    return Envelope(sender=sender, recipients=recipients, transport=config.protocol)


def _header_section(raw: bytes):
    end = min((i for i in (raw.find(b"\r\n\r\n"), raw.find(b"\n\n")) if i >= 0), default=-1)
    head = raw if end < 0 else raw[: end + 2]
    return email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(head)


# --- The fetcher --------------------------------------------------------------------


class Fetcher:
    """Fetch one configured mailbox, once (:meth:`fetch`) or for good (:meth:`watch`)."""

    def __init__(
        self,
        config: MailboxConfig,
        *,
        stop: threading.Event | None = None,
        on_report: Callable[[FetchReport], None] | None = None,
        source_factory: Callable[[MailboxConfig], Source] = make_source,
    ) -> None:
        self.config = config
        self.stop = stop or threading.Event()
        self.on_report = on_report
        self.source_factory = source_factory

    def fetch(self) -> FetchReport:
        """Open the mailbox, take everything waiting, and close it."""
        source = self.source_factory(self.config)
        source.open()
        try:
            return self.run_pass(source)
        finally:
            source.close()

    def watch(self) -> None:
        """Fetch until :attr:`stop` is set, waiting for new mail between passes.

        IMAP waits with IDLE on the open session; the others poll every
        ``POLL_INTERVAL``. A dropped connection (or database) is retried after
        ``RECONNECT_DELAY``, doubling; a refused login is raised.
        """
        first, longest = self.config.reconnect_delay
        delay = first
        while not self.stop.is_set():
            source = self.source_factory(self.config)
            try:
                source.open()
                delay = first
                self.run_pass(source)
                while source.can_wait and not self.stop.is_set():
                    source.wait(self.stop)
                    if not self.stop.is_set():
                        self.run_pass(source)
            except MailboxLoginError:
                raise
            except (MailboxError, DatabaseError) as exc:
                logger.warning("%s Trying again in %s s.", exc, delay)
                self.stop.wait(delay)
                delay = min(delay * 2, longest)
                continue
            finally:
                source.close()
            self.stop.wait(self.config.poll_interval)

    def run_pass(self, source: Source) -> FetchReport:
        """Store every new message of the open ``source``; remove what is stored."""
        close_old_connections()  # a long-running watcher outlives database connections
        report = FetchReport(self.config.name)
        items = source.list()
        known = self._known(source, [item.uid for item in items if item.uid is not None])
        done: list[Item] = []
        todo: list[Item] = []
        for item in items:
            row = known.get(item.uid)
            if row is not None and self._settled(row):
                self._seen_before(source, item, row, done, report)
            elif self._too_large(item):
                self._refuse(self._row(source, item.uid, Status.REFUSED), "too large", report)
            else:
                todo.append(item)
        for item, raw in source.read(todo):
            if item.uid is None:  # no server id: known by its content
                item.uid = source.content_key(raw)
                row = self._known(source, [item.uid]).get(item.uid)
                if row is not None and self._settled(row):
                    self._seen_before(source, item, row, done, report)
                    continue
            if self.deliver(source, item, raw, report):
                done.append(item)
            if len(done) >= FINISH_EVERY:
                self._finish(source, done, report)
                done = []
            if self.stop.is_set():
                break
        self._finish(source, done, report)
        if report.stored or report.known or report.refused:
            logger.info("%s", report)
        if self.on_report is not None:
            self.on_report(report)
        return report

    def _seen_before(
        self, source: Source, item: Item, row: FetchedMessage, done: list, report: FetchReport
    ) -> None:
        """A message handled by an earlier pass: remove it if that was not done yet."""
        if row.status == Status.STORED and source.needs_finish(item):
            done.append(item)
            report.known += 1

    def deliver(self, source: Source, item: Item, raw: bytes, report: FetchReport) -> bool:
        """Run one message through the pipeline; return whether it may leave the server.

        A ``fetching`` row is committed first: if the process dies, the next run
        finds it and looks for the stored message (:meth:`_settled`) instead of
        handling the message again.
        """
        row = self._row(source, item.uid, Status.FETCHING)
        row.content_hash = hashlib.sha256(raw).hexdigest()
        try:
            with transaction.atomic():
                row.save(force_insert=True)
        except IntegrityError:
            return False  # another fetcher is taking this message
        results = receive(raw, envelope_for(raw, self.config))
        inbound = self._stored_as(row)
        if inbound is not None:
            self._mark(row, Status.STORED, inbound=inbound)
            report.stored += 1
            report.failed += inbound.status == InboundMessage.Status.FAILED
            report.inbound_ids.append(inbound.pk)
            return True
        if any(r.outcome == Outcome.UNAVAILABLE for r in results):
            row.delete()
            raise MailboxUnavailable(
                f"{source}: the message could not be stored; it stays on the server."
            )
        if not app_settings.STORE_INBOUND:
            # Nothing else keeps the message: it leaves the server only once accepted.
            if all(r.is_success for r in results):
                self._mark(row, Status.STORED)
                report.stored += 1
                return True
            if any(r.is_temporary for r in results):
                row.delete()  # tried again on the next pass
                return False
        self._refuse(row, _reason(results), report)
        return False

    def _settled(self, row: FetchedMessage) -> bool:
        """Whether ``row`` is final; a ``fetching`` one left by a crash is settled here.

        Found stored: the crash came after the store, so the message is not
        handled again (if its view was cut short, ``retrymail`` re-runs it).
        Not found: the crash came before, so the row goes and the message is fetched.
        """
        if row.status != Status.FETCHING:
            return True
        inbound = self._stored_as(row)
        if inbound is None:
            row.delete()
            return False
        self._mark(row, Status.STORED, inbound=inbound)
        if inbound.status == InboundMessage.Status.RECEIVED:
            logger.warning(
                "Inbound message %s was stored but its handling was interrupted; "
                "run 'manage.py retrymail --id %s' to handle it.",
                inbound.pk,
                inbound.pk,
            )
        return True

    def _stored_as(self, row: FetchedMessage) -> InboundMessage | None:
        """The ``InboundMessage`` the pipeline stored for ``row``'s message, if any."""
        if not app_settings.STORE_INBOUND:
            return None
        return (
            InboundMessage.objects.filter(
                content_hash=row.content_hash, received_at__gte=row.fetched_at
            )
            .order_by("pk")
            .first()
        )

    def _mark(self, row: FetchedMessage, status: str, inbound=None, reason: str = "") -> None:
        row.status, row.inbound, row.reason = status, inbound, reason
        row.save(update_fields=["status", "inbound", "reason"])

    def _finish(self, source: Source, items: list[Item], report: FetchReport) -> None:
        if items:
            source.finish(items)
            report.removed += len(items)

    def _too_large(self, item: Item) -> bool:
        return item.size is not None and item.size > app_settings.MAX_MESSAGE_SIZE

    def _refuse(self, row: FetchedMessage, reason: str, report: FetchReport) -> None:
        """Remember a message the pipeline will not store, so it is not fetched again."""
        logger.warning(
            "Mailbox %r: message %s refused (%s); it stays on the server.",
            self.config.name,
            row.uid,
            reason,
        )
        report.refused += 1
        if row.pk is None:
            if not row.uid:
                return  # no key to remember it by (POP3 without UIDL): refused again
            row.status, row.reason = Status.REFUSED, reason
            row.save(force_insert=True)
        else:
            self._mark(row, Status.REFUSED, reason=reason)

    def _row(self, source: Source, uid: str | None, status: str) -> FetchedMessage:
        return FetchedMessage(
            mailbox=self.config.name,
            folder=source.folder,
            uidvalidity=source.uidvalidity,
            uid=uid or "",
            status=status,
        )

    def _known(self, source: Source, uids: list[str]) -> dict[str, FetchedMessage]:
        """This mailbox's rows for ``uids``."""
        known: dict[str, FetchedMessage] = {}
        rows = FetchedMessage.objects.filter(
            mailbox=self.config.name, folder=source.folder, uidvalidity=source.uidvalidity
        )
        for start in range(0, len(uids), LOOKUP_CHUNK):
            for row in rows.filter(uid__in=uids[start : start + LOOKUP_CHUNK]):
                known[row.uid] = row
        return known


def _reason(results: list[Result]) -> str:
    return "; ".join(f"{r.status} {r.text}" for r in results)[:255]
