"""Wake idle workers when mail is queued: PostgreSQL LISTEN/NOTIFY, else short polling."""

from __future__ import annotations

import threading

from django.db import connections

#: The PostgreSQL notification channel enqueueing signals on.
CHANNEL = "mailserver_outbound"


def notify(using: str) -> None:
    """Tell listening workers that mail was queued (delivered when the transaction commits)."""
    connection = connections[using]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_notify(%s, '')", [CHANNEL])


class Waiter:
    """Sleep until mail may be waiting: a NOTIFY arrives, ``stop()`` is called, or time passes."""

    def __init__(self, using: str) -> None:
        self.using = using
        self._stopped = threading.Event()
        self._listener = None
        self._postgres = connections[using].vendor == "postgresql"
        if self._postgres:
            self._reconnect()

    def _listen(self):
        import psycopg

        params = connections[self.using].get_connection_params()
        params.pop("cursor_factory", None)
        params.pop("context", None)
        params.pop("prepare_threshold", None)
        listener = psycopg.connect(autocommit=True, **params)
        listener.execute(f"LISTEN {CHANNEL}")
        return listener

    def wait(self, timeout: float) -> bool:
        """Wait at most ``timeout`` seconds; return True if woken by a notification."""
        if self._stopped.is_set():
            return False
        if self._listener is None:
            self._stopped.wait(timeout)
            if self._postgres:
                self._reconnect()
            return False
        try:
            return self._wait_for_notify(timeout)
        except Exception:
            # The listening connection broke (a database restart): poll until it
            # can be opened again.
            self.close()
            self._stopped.wait(timeout)
            return False

    def _reconnect(self) -> None:
        try:
            self._listener = self._listen()
        except Exception:
            self._listener = None

    def _wait_for_notify(self, timeout: float) -> bool:
        # Short slices keep SIGTERM handling prompt while blocked on the socket.
        deadline_slices = max(1, int(timeout / 0.5))
        for _ in range(deadline_slices):
            if self._stopped.is_set():
                return False
            woken = False
            for _notify in self._listener.notifies(timeout=min(timeout, 0.5), stop_after=1):
                woken = True
            if woken:
                # Drain the burst: one wake-up per batch of enqueues is enough.
                for _notify in self._listener.notifies(timeout=0.01):
                    pass
                return True
        return False

    def stop(self) -> None:
        self._stopped.set()

    def close(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None
