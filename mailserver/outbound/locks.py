"""One queue worker at a time on SQLite.

SQLite has no row locks (``select_for_update`` is a no-op there), so two
workers would claim the same rows. A lock file beside the database keeps a
second worker out with a message that says what to do instead.
"""

from __future__ import annotations

import os
from contextlib import contextmanager

from django.db import connections

from mailserver.exceptions import MailServerError


class WorkerAlreadyRunning(MailServerError):
    """Another queue worker holds the SQLite database."""


@contextmanager
def single_worker(using: str = "default"):
    """Hold the SQLite worker lock for the duration; elsewhere do nothing."""
    connection = connections[using]
    name = str(connection.settings_dict.get("NAME") or "")
    if connection.vendor != "sqlite" or not name or connection.is_in_memory_db():
        yield
        return
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; trust the operator.
        yield
        return
    path = name + ".mailqueue.lock"
    handle = open(path, "a+")  # noqa: SIM115 (held open for the whole block)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise WorkerAlreadyRunning(
                f"Another mail queue worker is already running on the SQLite database "
                f"{name} (it holds {path}). SQLite allows one queue worker at a time; "
                "stop the other one, or use PostgreSQL to run several workers."
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield
    finally:
        handle.close()
