"""A Postfix SMTP access policy delegation server answering from ``ROOT_MAILCONF``.

Sites that feed mail to ``readmail`` through a pipe have no RCPT-time check of
their own: Postfix would accept mail for any address and bounce it later
(backscatter). With ``check_policy_service inet:127.0.0.1:10040`` in
``smtpd_recipient_restrictions``, Postfix asks this server about each recipient
and refuses unknown ones at RCPT time. The protocol (Postfix's
SMTPD_POLICY_README): ``name=value`` lines ended by an empty line, answered by
``action=...`` and an empty line, many requests per connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Mapping

from mailserver.exceptions import InvalidAddress, NoRoute
from mailserver.ingress.lifecycle import stop_event

logger = logging.getLogger("mailserver.policy")

#: Postfix access(5) actions. DUNNO lets the next restriction decide.
DUNNO = "DUNNO"
NO_SUCH_MAILBOX = "550 5.1.1 No such mailbox"
BAD_ADDRESS = "553 5.1.3 Bad recipient address syntax"
#: Defer only if the rest of the restrictions would accept: never a permanent error.
TRY_LATER = "DEFER_IF_PERMIT Temporary failure, try again later"

#: A request is a few hundred bytes; refuse absurd ones instead of buffering them.
MAX_REQUEST_LINES = 100


def policy_action(request: Mapping[str, str], domains: Iterable[str] | None = None) -> str:
    """Answer one policy request: refuse recipients nothing in the mailconf routes.

    Only RCPT-stage requests are judged; with ``domains``, only recipients in
    those domains (the others belong to someone else, so DUNNO).
    """
    from mailserver.routing import resolve

    recipient = request.get("recipient", "")
    if request.get("protocol_state", "RCPT").upper() != "RCPT" or not recipient:
        return DUNNO
    if domains is not None:
        domain = recipient.rpartition("@")[2].lower()
        if domain not in {d.lower() for d in domains}:
            return DUNNO
    try:
        resolve(recipient)
    except NoRoute:
        return NO_SUCH_MAILBOX
    except InvalidAddress:
        return BAD_ADDRESS
    except Exception:
        logger.exception("Resolving %r for a policy request failed.", recipient)
        return TRY_LATER
    return DUNNO


class PolicyServer:
    """Serve :func:`policy_action` over TCP, one asyncio task per Postfix connection."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 10040,
        domains: Iterable[str] | None = None,
        idle_timeout: float = 300,
    ) -> None:
        self.host, self.port = host, port
        self.domains = list(domains) if domains else None
        self.idle_timeout = idle_timeout
        self._server: asyncio.AbstractServer | None = None
        self._clients: set[asyncio.Task] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve_client, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening and end the open connections, closing their sockets."""
        if self._server is not None:
            self._server.close()
        for task in self._clients:
            task.cancel()
        await asyncio.gather(*self._clients, return_exceptions=True)

    async def _serve_client(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        self._clients.add(task)
        try:
            while (request := await self._read_request(reader)) is not None:
                action = policy_action(request, self.domains)
                logger.info(
                    "%s from=<%s> to=<%s> action=%s",
                    request.get("client_address", "?"),
                    request.get("sender", ""),
                    request.get("recipient", ""),
                    action,
                )
                writer.write(f"action={action}\n\n".encode())
                await writer.drain()
        except (TimeoutError, ConnectionError, ValueError):
            pass  # Postfix reconnects; a broken or idle connection just ends
        finally:
            self._clients.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _read_request(self, reader: asyncio.StreamReader) -> dict[str, str] | None:
        request: dict[str, str] = {}
        for _ in range(MAX_REQUEST_LINES):
            line = await asyncio.wait_for(reader.readline(), self.idle_timeout)
            if not line:
                return None  # the client closed the connection
            line = line.rstrip(b"\r\n")
            if not line:
                return request
            name, _, value = line.decode("utf-8", "replace").partition("=")
            request[name] = value
        raise ValueError("Policy request too long.")

    async def serve(self, ready: Callable[[PolicyServer], None] | None = None) -> None:
        """Serve until SIGTERM or SIGINT."""
        await self.start()
        stop = stop_event()
        if ready is not None:
            ready(self)
        await stop.wait()
        await self.stop()

    def run(self, ready: Callable[[PolicyServer], None] | None = None) -> None:
        asyncio.run(self.serve(ready))
