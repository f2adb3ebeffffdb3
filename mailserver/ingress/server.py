"""Run the SMTP/LMTP ingress on an event loop: sessions, limits, signals, drain.

``manage.py runmailserver`` is a thin wrapper around :class:`MailServer`.
Tests and the benchmark use :class:`ServerThread`, which runs one in a
background thread as aiosmtpd's ``Controller`` does.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP
from django.db import close_old_connections

from mailserver.conf import settings as app_settings
from mailserver.ingress.auth import AuthSMTPHandler
from mailserver.ingress.lifecycle import stop_event
from mailserver.ingress.lmtp import LMTPHandler
from mailserver.ingress.smtp import SMTPHandler
from mailserver.ingress.writer import InboundWriter

logger = logging.getLogger("mailserver.smtp")

#: RFC 5321 section 3.8: a server that must close a session says 421 first.
SHUTTING_DOWN = b"421 4.3.2 Service shutting down, try again later\r\n"
TOO_MANY_SESSIONS = b"421 4.3.2 Too many connections, try again later\r\n"
#: Postfix's smtpd_hard_error_limit does the same: a client that keeps failing is a
#: harvester or a broken loop, and the session is cut.
TOO_MANY_ERRORS = "421 4.7.0 Too many errors, closing connection"


class ViewExecutor(ThreadPoolExecutor):
    """The bounded pool sync views run in, closing Django connections around each call.

    Django's connections are per thread and are normally closed at the end of a
    request; a pool thread lives on, so each job opens and leaves its own the
    way a request would (honouring ``CONN_MAX_AGE``).
    """

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        return super().submit(_with_fresh_connections, fn, *args, **kwargs)


def _with_fresh_connections(fn: Any, *args: Any, **kwargs: Any) -> Any:
    close_old_connections()
    try:
        return fn(*args, **kwargs)
    finally:
        close_old_connections()


class SessionMixin:
    """Count sessions against the limit, track busy ones for the drain, log each once."""

    def __init__(self, handler: Any, *, mailserver: MailServer, **kwargs: Any) -> None:
        # aiosmtpd sizes its stream reader from this in __init__: set it first.
        self.line_length_limit = mailserver.max_line_length
        self.mailserver = mailserver
        self.busy = False
        self.refused = False
        self.errors = 0
        self.notes: list[str] = []
        super().__init__(handler, **kwargs)

    def connection_made(self, transport: Any) -> None:
        server = self.mailserver
        first = self.transport is None  # STARTTLS calls this again for the same session
        if first and (server.draining or len(server.sessions) >= server.max_sessions):
            self.refused = True
            transport.write(SHUTTING_DOWN if server.draining else TOO_MANY_SESSIONS)
            transport.close()
            return
        super().connection_made(transport)
        server.sessions.add(self)

    def data_received(self, data: bytes) -> None:
        if not self.refused:
            super().data_received(data)

    async def push(self, status: str | bytes) -> None:
        """Send a reply; after ``max_errors`` refusals (5xx), say 421 and close the session.

        4xx replies are not counted: a 452 for too many recipients or a 451 from a view
        asks a well-behaved client to come back, which it should be able to do.
        """
        await super().push(status)
        refused = (status[:1] if isinstance(status, str) else status[:1].decode("latin-1")) == "5"
        if refused and self.transport is not None:
            self.errors += 1
            if self.errors >= self.mailserver.max_errors:
                await super().push(TOO_MANY_ERRORS)
                self.transport.close()

    def eof_received(self) -> bool | None:
        return None if self.refused else super().eof_received()

    def connection_lost(self, error: Exception | None) -> None:
        if self.refused:
            return
        self.mailserver.sessions.discard(self)
        if logger.isEnabledFor(logging.INFO):
            logger.info(self.log_line())
        super().connection_lost(error)

    def log_line(self) -> str:
        """One line per session: peer, HELO, TLS, and each message and refusal."""
        session = self.session
        peer = ":".join(map(str, session.peer)) if session and session.peer else "?"
        helo = session.host_name if session else None
        tls = "yes" if session and session.ssl else "no"
        return f"{peer} helo={helo} tls={tls} " + ("; ".join(self.notes) or "no mail")

    def goodbye(self) -> None:
        """Close an idle session with a 421, as RFC 5321 section 3.8 asks."""
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(SHUTTING_DOWN)
            self.transport.close()


class MailServerSMTP(SessionMixin, SMTP):
    pass


class MailServerLMTP(SessionMixin, LMTP):
    pass


class MailServer:
    """An SMTP (or LMTP) server feeding the inbound pipeline.

    Limits default to the ``MAILSERVER_SMTP_*`` settings; explicit arguments win.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 8025,
        *,
        lmtp: bool = False,
        tls_context: ssl.SSLContext | None = None,
        require_tls: bool = False,
        auth: bool = False,
        hostname: str | None = None,
        max_sessions: int | None = None,
        max_recipients: int | None = None,
        max_commands: int | None = None,
        max_errors: int | None = None,
        idle_timeout: float | None = None,
        max_line_length: int | None = None,
        max_message_size: int | None = None,
        workers: int | None = None,
        drain_timeout: float | None = None,
    ) -> None:
        if require_tls and tls_context is None:
            raise ValueError("require_tls needs a TLS certificate and key (tls_context).")
        if auth and (tls_context is None or lmtp):
            # RFC 4954 section 4: never ask for a password over a plain connection.
            raise ValueError("auth needs TLS (tls_context) and SMTP, not LMTP.")
        s = app_settings
        self.host, self.port, self.lmtp = host, port, lmtp
        self.tls_context, self.require_tls, self.hostname = tls_context, require_tls, hostname
        self.auth = auth
        self.max_sessions = max_sessions or s.SMTP_MAX_SESSIONS
        self.max_recipients = max_recipients or s.SMTP_MAX_RECIPIENTS
        self.max_commands = max_commands or s.SMTP_MAX_COMMANDS
        self.max_errors = max_errors or s.SMTP_MAX_ERRORS
        self.idle_timeout = idle_timeout or s.SMTP_IDLE_TIMEOUT
        self.max_line_length = max_line_length or s.SMTP_MAX_LINE_LENGTH
        self.max_message_size = max_message_size or s.MAX_MESSAGE_SIZE
        self.workers = workers or s.SMTP_WORKERS
        self.drain_timeout = s.SMTP_DRAIN_TIMEOUT if drain_timeout is None else drain_timeout
        self.sessions: set[SessionMixin] = set()
        self.draining = False
        self.writer: InboundWriter | None = None
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        """Listen; after this, ``self.port`` is the port actually bound."""
        loop = asyncio.get_running_loop()
        self.executor = ViewExecutor(self.workers, thread_name_prefix="mailserver-view")
        # Async views' handler runs its sync parts with sync_to_async(thread_sensitive=False),
        # which uses the loop's default executor: make that the bounded pool too.
        loop.set_default_executor(self.executor)
        if app_settings.STORE_INBOUND:
            self.writer = InboundWriter(loop)
            self.writer.start()
        handler_class = LMTPHandler if self.lmtp else SMTPHandler
        if self.auth:
            handler_class = AuthSMTPHandler
        self.handler = handler_class(
            writer=self.writer, executor=self.executor, max_recipients=self.max_recipients
        )
        self._server = await loop.create_server(self._protocol, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    def _protocol(self) -> SessionMixin:
        protocol_class = MailServerLMTP if self.lmtp else MailServerSMTP
        return protocol_class(
            self.handler,
            mailserver=self,
            data_size_limit=self.max_message_size,
            enable_SMTPUTF8=True,
            decode_data=False,
            hostname=self.hostname,
            tls_context=self.tls_context,
            require_starttls=self.require_tls,
            timeout=self.idle_timeout,
            command_call_limit=self.max_commands,
            auth_required=self.auth,
            auth_require_tls=True,
            # Without --auth, offer no AUTH at all (aiosmtpd would offer one that always fails).
            auth_exclude_mechanism=None if self.auth else ["PLAIN", "LOGIN"],
        )

    async def drain(self, timeout: float | None = None) -> None:
        """Stop accepting, let busy sessions finish (bounded), close the rest, flush."""
        timeout = self.drain_timeout if timeout is None else timeout
        self.draining = True
        if self._server is not None:
            self._server.close()
        deadline = time.monotonic() + timeout
        while any(s.busy for s in self.sessions) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        for session in list(self.sessions):
            session.goodbye()
        await asyncio.sleep(0)  # let the transports close
        if self.writer is not None:
            await self.writer.flush()
            await asyncio.get_running_loop().run_in_executor(None, self.writer.stop)
        self.executor.shutdown(wait=False, cancel_futures=True)

    async def serve(self, ready: Callable[[MailServer], None] | None = None) -> None:
        """Serve until SIGTERM or SIGINT, then drain; ``ready`` is called once listening."""
        await self.start()
        stop = stop_event()
        if ready is not None:
            ready(self)
        await stop.wait()
        logger.info("Shutting down: finishing %d session(s).", len(self.sessions))
        await self.drain()

    def run(self, ready: Callable[[MailServer], None] | None = None) -> None:
        asyncio.run(self.serve(ready))


class ServerThread:
    """Run a :class:`MailServer` on its own loop in a background thread."""

    def __init__(self, server: MailServer) -> None:
        self.server = server
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def start(self) -> MailServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(), self.loop).result(30)
        return self.server

    def call(self, coroutine: Any, timeout: float = 60) -> Any:
        """Run ``coroutine`` on the server's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def stop(self, timeout: float | None = None) -> None:
        try:
            self.call(self.server.drain(timeout))
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)
            self.loop.close()

    def __enter__(self) -> MailServer:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()
