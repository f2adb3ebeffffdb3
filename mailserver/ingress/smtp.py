"""The SMTP transport: an aiosmtpd handler that feeds the inbound pipeline.

It implements only the hooks it needs, as aiosmtpd intends: ``handle_RCPT``
refuses unknown recipients before any body is sent (so the server is never an
open relay), ``handle_DATA`` stores and handles the message, and
``handle_exception`` answers a crash with a 451 that leaks nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import Executor
from typing import Any

from mailserver.exceptions import InvalidAddress, NoRoute
from mailserver.ingress.pipeline import Envelope, areceive
from mailserver.status import REPLIES, Outcome, Result, summarize

logger = logging.getLogger("mailserver.smtp")

#: RFC 5321 section 4.5.3.1.10: a server may refuse recipients past its limit with 452.
TOO_MANY_RECIPIENTS = "452 4.5.3 Too many recipients"
#: RFC 3463 section 3.2: 5.1.3 is a syntactically bad destination address.
BAD_ADDRESS = "553 5.1.3 Bad recipient address syntax"
RECIPIENT_OK = "250 2.1.5 Recipient ok"
#: Entries a session keeps for its log line.
MAX_NOTES = 100


def _reply(outcome: Outcome) -> str:
    reply = REPLIES[outcome]
    return f"{reply.code} {reply.status} {reply.text}"


def check_recipient(address: str) -> str | None:
    """Return the refusal for an envelope recipient nothing routes, or ``None``."""
    from mailserver.routing import resolve

    try:
        resolve(address)
    except NoRoute:
        return _reply(Outcome.NO_ROUTE)
    except InvalidAddress:
        return BAD_ADDRESS
    except Exception:
        logger.exception("Resolving the recipient %r failed.", address)
        return _reply(Outcome.ERROR)
    return None


class SMTPHandler:
    """aiosmtpd handler: recipients checked at RCPT, one reply per message after DATA."""

    transport = "smtp"

    def __init__(
        self,
        *,
        writer: Any = None,
        executor: Executor | None = None,
        max_recipients: int = 100,
    ) -> None:
        if max_recipients < 1:
            raise ValueError("max_recipients must be at least 1.")
        self.writer = writer
        self.executor = executor
        self.max_recipients = max_recipients

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        # aiosmtpd announces a bare "AUTH" after STARTTLS even with every mechanism off.
        return [line for line in responses if line.strip() != "250-AUTH"]

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if len(envelope.rcpt_tos) >= self.max_recipients:
            reply = TOO_MANY_RECIPIENTS
        else:
            reply = check_recipient(address) or RECIPIENT_OK
        if reply == RECIPIENT_OK:
            envelope.rcpt_tos.append(address)
            envelope.rcpt_options.extend(rcpt_options)
        else:
            _note(server, f"rcpt=<{address}> {reply[:9]}")
        return reply

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        server.busy = True
        try:
            results = await areceive(
                envelope.original_content or envelope.content,
                Envelope(
                    sender=envelope.mail_from,
                    recipients=list(envelope.rcpt_tos),
                    peer=_peer_address(session.peer),
                    helo=session.host_name,
                    transport=self.transport,
                ),
                writer=self.writer,
                executor=self.executor,
            )
            reply = self.reply(results)
        finally:
            server.busy = False
        _note(
            server,
            f"from=<{envelope.mail_from}> to={','.join(f'<{r}>' for r in envelope.rcpt_tos)} "
            + "; ".join(dict.fromkeys(r[:9] for r in reply.split("\r\n"))),
        )
        return reply

    def reply(self, results: Sequence[Result]) -> str:
        """SMTP gives one reply for all recipients: see :func:`~mailserver.status.summarize`."""
        return summarize(results).smtp_reply()

    async def handle_exception(self, error: Exception) -> str:
        # aiosmtpd's default is a permanent 500 carrying the exception text.
        logger.error("The SMTP session failed.", exc_info=error)
        return _reply(Outcome.ERROR)


def _peer_address(peer: Any) -> str | None:
    if isinstance(peer, tuple | list) and peer:
        return str(peer[0])
    return str(peer) if peer else None


def _note(server: Any, entry: str) -> None:
    """Remember what happened for the session's one log line (``--verbosity 2``).

    Only when that line will be logged, and only the first ``MAX_NOTES`` entries: a
    session may carry thousands of messages, and its memory must not grow with them.
    """
    notes = getattr(server, "notes", None)
    if notes is None or not logger.isEnabledFor(logging.INFO):
        return
    if len(notes) < MAX_NOTES:
        notes.append(entry)
    elif len(notes) == MAX_NOTES:
        notes.append("...")
