"""The queue worker: claim a batch, send it over one connection, repeat.

``manage.py runmailqueue`` runs :meth:`Worker.run` until SIGTERM;
``manage.py sendmailqueue``, ``send_queued()`` and the django.tasks task run
:meth:`Worker.drain`. Any number of workers may share a PostgreSQL database.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections import Counter
from dataclasses import dataclass, field

from django.db import DatabaseError, close_old_connections, router
from django.utils import timezone

from mailserver.conf import settings as app_settings
from mailserver.models.outbound import PENDING_MESSAGE_STATUSES, MessageStatus, OutboundMessage
from mailserver.outbound import claim
from mailserver.outbound.delivery import get_delivery_backend
from mailserver.outbound.sending import Sender
from mailserver.outbound.wakeup import Waiter

logger = logging.getLogger("mailserver.outbound")


def make_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass
class Stats:
    """What a worker did: messages per final word (``sent``, ``deferred``, ``throttled``, …)."""

    counts: Counter = field(default_factory=Counter)

    @property
    def processed(self) -> int:
        return sum(self.counts.values())

    def __str__(self) -> str:
        done = ", ".join(f"{n} {word}" for word, n in sorted(self.counts.items()))
        return f"{self.processed} messages" + (f" ({done})" if done else "")


class Worker:
    """Send due mail from the queue.

    ``backend`` is a delivery backend instance or name (default
    ``MAILSERVER_DELIVERY_BACKEND``); each batch uses one connection of it.
    """

    def __init__(
        self,
        backend=None,
        batch_size: int | None = None,
        worker_id: str | None = None,
        using: str | None = None,
    ) -> None:
        self.backend = backend if backend is not None and not isinstance(backend, str) else None
        self.backend_name = backend if isinstance(backend, str) else None
        self.batch_size = batch_size or app_settings.BATCH_SIZE
        self.worker_id = worker_id or make_worker_id()
        self.using = using or router.db_for_write(OutboundMessage)
        self.stopping = False
        self.stats = Stats()
        self._waiter: Waiter | None = None

    def stop(self) -> None:
        """Finish the message in hand, give the rest of the batch back, and return."""
        self.stopping = True
        if self._waiter is not None:
            self._waiter.stop()

    def get_backend(self):
        return (
            self.backend if self.backend is not None else get_delivery_backend(self.backend_name)
        )

    def run_batch(self) -> int:
        """Claim and send one batch; return how many messages it held."""
        batch = claim.claim(self.worker_id, self.batch_size, self.using)
        if not batch:
            return 0
        backend = self.get_backend()
        sender = Sender(backend, self.worker_id, self.using)
        sender.start_batch(batch)
        try:
            for index, message in enumerate(batch):
                if self.stopping:
                    for rest in batch[index:]:
                        claim.release(rest, self.worker_id)
                    break
                try:
                    outcome = sender.process(message)
                except Exception:
                    # A bug of ours or a broken row must not kill the worker or stall the
                    # queue: the lease runs out and the message is retried (and, past
                    # MAILSERVER_POISON_LIMIT errors, quarantined) later.
                    logger.exception("Could not process outbound message %s", message.pk)
                    outcome = "error"
                    _count_error(message)
                self.stats.counts[outcome] += 1
        finally:
            close = getattr(backend, "close", None)
            if close is not None:
                close()
        return len(batch)

    def drain(self) -> Stats:
        """Send everything due now, then return (cron, tasks, tests)."""
        while not self.stopping and self.run_batch():
            pass
        return self.stats

    def run(self, poll_interval: float | None = None) -> Stats:
        """Send mail until :meth:`stop`; sleep while the queue is idle."""
        poll = poll_interval if poll_interval is not None else app_settings.POLL_INTERVAL
        self._waiter = Waiter(self.using)
        try:
            while not self.stopping:
                try:
                    if self.run_batch():
                        continue
                    close_old_connections()
                    idle = self._idle_time(poll)
                except DatabaseError:
                    # The database went away (a restart, a failover): keep the worker
                    # alive and try again with a fresh connection.
                    logger.exception("Queue worker %s lost the database", self.worker_id)
                    close_old_connections()
                    idle = poll
                self._waiter.wait(idle)
        finally:
            self._waiter.close()
        return self.stats

    def _idle_time(self, poll: float) -> float:
        """Sleep until the next scheduled message, at most ``poll`` seconds."""
        upcoming = (
            OutboundMessage.objects.using(self.using)
            .filter(status__in=PENDING_MESSAGE_STATUSES)
            .order_by("next_attempt_at")
            .values_list("next_attempt_at", flat=True)
            .first()
        )
        if upcoming is None:
            return poll
        return max(0.05, min(poll, (upcoming - timezone.now()).total_seconds()))


def _count_error(message: OutboundMessage) -> None:
    from django.db.models import F

    limit = app_settings.POISON_LIMIT
    rows = OutboundMessage.objects.using(message._state.db).filter(pk=message.pk)
    rows.update(errors=F("errors") + 1)
    rows.filter(errors__gte=limit).update(
        status=MessageStatus.FAILED,
        lease_owner="",
        lease_expires_at=None,
        last_error=f"Quarantined after {limit} unexpected errors (MAILSERVER_POISON_LIMIT).",
    )


def send_queued(backend=None, batch_size: int | None = None) -> Stats:
    """Send every message due now and return the :class:`Stats`; what ``sendmailqueue`` runs."""
    return Worker(backend=backend, batch_size=batch_size).drain()
