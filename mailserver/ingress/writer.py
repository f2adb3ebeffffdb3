"""Group the inbound store's writes of concurrent SMTP sessions into shared commits.

A commit per message on the event loop would cap the server at the speed of
one fsync and stall every session while it waits. One thread owns the
writes instead: whatever arrived while it was committing the previous batch
goes into the next transaction, so eight sessions pay for about one commit,
and each session is answered only once its own message is committed.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Mapping
from typing import Any

from django.db import connection, transaction

from mailserver.ingress import store
from mailserver.models.inbound import InboundMessage

logger = logging.getLogger("mailserver.ingress")

#: The most operations one transaction takes; bounds the time a batch holds the lock.
MAX_BATCH = 500

#: How long results may wait for a commit they can share (seconds); no reply waits on them.
RECORD_DELAY = 0.05

_STOP = object()


class InboundWriter:
    """Run ``store.insert`` and ``store.apply_record`` in batches on one thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop, max_batch: int = MAX_BATCH) -> None:
        self.loop = loop
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(
            target=self._run, name="mailserver-inbound-writer", daemon=True
        )
        self.batches = 0  # how many transactions were committed, for the benchmark

    def start(self) -> None:
        self._thread.start()

    def store(self, message: InboundMessage) -> asyncio.Future:
        """Insert ``message``; resolves to ``(message, recipients already served)``."""
        return self._submit("store", message)

    def record(
        self, message: InboundMessage, fields: Mapping[str, Any], *, urgent: bool = False
    ) -> asyncio.Future:
        """Write a delivery's results to its row; ``urgent`` if a reply waits for it."""
        return self._submit("record-now" if urgent else "record", (message, fields))

    async def flush(self) -> None:
        """Wait until everything submitted so far is committed."""
        await self._submit("flush", None)

    def stop(self, timeout: float | None = None) -> None:
        """Commit what is queued, then end the thread."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join(timeout)

    def _submit(self, kind: str, payload: Any) -> asyncio.Future:
        future = self.loop.create_future()
        self._queue.put((kind, payload, future))
        return future

    def _run(self) -> None:
        try:
            while True:
                batch, stop = self._next_batch()
                if batch:
                    self._write(batch)
                if stop:
                    return
        finally:
            connection.close()

    def _next_batch(self) -> tuple[list, bool]:
        item = self._queue.get()
        batch: list = []
        while item is not _STOP:
            batch.append(item)
            if len(batch) >= self.max_batch:
                return batch, False
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                if any(kind != "record" for kind, _, _ in batch):
                    return batch, False
                # Nobody waits for a record: let it ride with the next message's commit.
                try:
                    item = self._queue.get(timeout=RECORD_DELAY)
                except queue.Empty:
                    return batch, False
        return batch, True

    def _write(self, batch: list) -> None:
        try:
            with transaction.atomic():
                outcomes = self._apply(batch)
            self.batches += 1
        except Exception as exc:
            # A broken connection (the database restarted) is replaced on the next batch.
            connection.close()
            if len(batch) > 1:
                # One bad row must not fail its neighbours: write them one by one.
                for item in batch:
                    self._write([item])
                return
            outcomes = [exc]
        self.loop.call_soon_threadsafe(_resolve, batch, outcomes)

    @staticmethod
    def _apply(batch: list) -> list:
        stores = [payload for kind, payload, _ in batch if kind == "store"]
        done = iter(store.insert(stores) if stores else [])
        outcomes: list[Any] = []
        for kind, payload, _ in batch:
            if kind == "store":
                outcomes.append((payload, next(done)))
            elif kind in ("record", "record-now"):
                store.apply_record(*payload)
                outcomes.append(None)
            else:
                outcomes.append(None)
        return outcomes


def _resolve(batch: list, outcomes: list) -> None:
    for (_, _, future), outcome in zip(batch, outcomes, strict=True):
        if future.done():  # the session went away while its write was queued
            continue
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)
