"""What the long-running ingress servers share: stopping on SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import signal

#: The signals a service manager (systemd, Docker, a terminal) stops a server with.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def stop_event() -> asyncio.Event:
    """Return an event the running loop sets on SIGTERM or SIGINT.

    Install it before announcing that the server is ready, so that a signal sent
    right after the announcement is not lost.
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, stop.set)
    return stop
