"""The durable outbound queue: queue mail now, send it from workers, with per-recipient results.

Everything here is imported lazily, so ``import mailserver.outbound`` loads no models.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from mailserver.exceptions import QueueFull

_EXPORTS = {
    "enqueue": "mailserver.outbound.queue",
    "enqueue_many": "mailserver.outbound.queue",
    "send_templated_mail": "mailserver.outbound.templates",
    "render_templated_mail": "mailserver.outbound.templates",
    "queue_digest": "mailserver.outbound.digests",
    "send_digests": "mailserver.outbound.digests",
    "send_queued": "mailserver.outbound.worker",
    "Worker": "mailserver.outbound.worker",
}

__all__ = ["QueueFull", *_EXPORTS]


def __getattr__(name: str) -> Any:
    try:
        module = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    return getattr(import_module(module), name)
