"""An SMTP sink on 127.0.0.1 for tests: replies per recipient as told, records what arrived.

The reply to a recipient follows its local part, like the Postfix harness's
smarthost mode: ``rcpt-451-anything@x`` gets ``451 4.2.0`` at RCPT,
``rcpt-550-…`` gets ``550 5.1.1``, ``rcpt-421-…`` closes with ``421 4.7.0``;
every other recipient is accepted. ``delay`` makes each message take that long,
as a real smarthost does.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from email.policy import default as default_policy

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

#: Reply texts per code for the ``rcpt-NNN-`` convention.
REPLIES = {
    421: "421 4.7.0 Slow down, try again later",
    450: "450 4.2.1 Mailbox busy",
    451: "451 4.2.0 Try again later",
    452: "452 4.2.2 Mailbox full",
    550: "550 5.1.1 No such user",
    551: "551 5.1.6 User not local",
    552: "552 5.2.2 Mailbox full",
    553: "553 5.1.3 Bad address",
    554: "554 5.7.1 Refused",
}


@dataclass
class Received:
    """One message as the sink received it."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    at: float
    peer: object = None
    headers: object = field(default=None, repr=False)

    @property
    def message_id(self) -> str:
        return str(self.headers["Message-ID"] or "").strip()


class _Handler:
    def __init__(self, sink: SMTPSink) -> None:
        self.sink = sink

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        code = _code_for(address)
        if code is not None:
            return REPLIES.get(code, f"{code} {str(code)[0]}.0.0 Told to refuse")
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.sink.delay:
            # Each session waits on its own, so concurrent connections overlap
            # as they do at a real smarthost.
            await asyncio.sleep(self.sink.delay)
        data = envelope.original_content or envelope.content
        headers = BytesHeaderParser(policy=default_policy).parsebytes(data)
        if self.sink.data_reply:
            return self.sink.data_reply
        self.sink._record(
            Received(
                mail_from=envelope.mail_from,
                rcpt_tos=list(envelope.rcpt_tos),
                data=data,
                at=time.monotonic(),
                peer=session.peer,
                headers=headers,
            )
        )
        return "250 2.0.0 Queued"


def _code_for(address: str) -> int | None:
    local = address.partition("@")[0].lower()
    if local.startswith("rcpt-") and local[5:8].isdigit():
        return int(local[5:8])
    return None


class _CountingSMTP(SMTP):
    def connection_made(self, transport) -> None:
        self._sink_owner.connections += 1
        super().connection_made(transport)


class SMTPSink:
    """Run an SMTP server in a thread; ``with SMTPSink() as sink: … sink.port …``."""

    def __init__(self, delay: float = 0.0, data_reply: str | None = None) -> None:
        self.delay = delay
        self.data_reply = data_reply
        self.messages: list[Received] = []
        self.connections = 0
        self._lock = threading.Lock()
        self.port = _free_port()
        handler = _Handler(self)
        sink = self

        class Counting(_CountingSMTP):
            _sink_owner = sink

        class SinkController(Controller):
            def factory(self):
                return Counting(self.handler, **self.SMTP_kwargs)

        self.controller = SinkController(
            handler, hostname="127.0.0.1", port=self.port, server_hostname="sink.test"
        )

    def _record(self, received: Received) -> None:
        with self._lock:
            self.messages.append(received)

    def start(self) -> SMTPSink:
        self.controller.start()
        # Controller.start() connects once itself to check the server is up.
        self.connections = 0
        return self

    def stop(self) -> None:
        self.controller.stop()

    def __enter__(self) -> SMTPSink:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def recipients(self) -> list[str]:
        """Every accepted (recipient) delivery, in order of arrival."""
        with self._lock:
            return [r for m in self.messages for r in m.rcpt_tos]

    def clear(self) -> None:
        with self._lock:
            self.messages.clear()
            self.connections = 0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
