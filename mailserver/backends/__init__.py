"""Email backends: the queued one for ``EMAIL_BACKEND``/``MAILERS``, and delivery backends."""

from __future__ import annotations

from typing import Any

__all__ = ["QueuedEmailBackend"]


def __getattr__(name: str) -> Any:
    # Lazy, so importing the package (as Django does for a dotted path) stays light.
    if name == "QueuedEmailBackend":
        from mailserver.backends.queued import QueuedEmailBackend

        return QueuedEmailBackend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
