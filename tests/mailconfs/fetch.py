"""A mailconf for the fetchmail tests: views that count, fail, or kill the process."""

import os
import signal

from mailserver.routing import route

#: Recipients whose view ran in this process, in order.
calls = []


def _log(request) -> None:
    calls.append(request.recipient)
    # Subprocess tests read the calls from a file: one line per view run.
    path = os.environ.get("MAILSERVER_TEST_VIEW_LOG")
    if path:
        with open(path, "a") as file:
            file.write(f"{request.recipient} {request.message_id}\n")


def accept(request, **kwargs):
    _log(request)


def broken(request):
    _log(request)
    raise RuntimeError("the view failed")


def crash(request):
    """Die like a killed process: after storing, before the server copy is removed."""
    _log(request)
    os.kill(os.getpid(), signal.SIGKILL)


mailpatterns = [
    route("support@example.com", accept, name="support"),
    route("ticket-<int:pk>@example.com", accept, name="ticket"),
    route("broken@example.com", broken, name="broken"),
    route("crash@example.com", crash, name="crash"),
]
