"""The one table that maps a handling outcome to SMTP replies and exit codes.

SMTP, LMTP, the pipe transport (``readmail``) and ``MailClient`` all read it, so
a view's answer means the same thing whichever way the message came in.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

# sysexits.h values, which MTA pipe transports (Postfix pipe(8)) understand.
EX_OK = 0
EX_DATAERR = 65
EX_NOUSER = 67
EX_UNAVAILABLE = 69
EX_TEMPFAIL = 75


class Outcome(enum.Enum):
    """What happened to a message for one recipient."""

    ACCEPTED = "accepted"  # the view returned an EmailResponse: accept and queue it
    IGNORED = "ignored"  # the view returned None or EmailIgnoreResponse
    REJECTED = "rejected"  # refused for good by the view or the middleware
    TEMPFAIL = "tempfail"  # the view asked the sender to try again
    NO_ROUTE = "no_route"  # nothing in the mailconf routes the recipient
    MALFORMED = "malformed"  # the input is not a message we accept
    TOO_LARGE = "too_large"  # the message exceeds MAILSERVER_MAX_MESSAGE_SIZE
    ERROR = "error"  # the view raised: stored as failed, retryable
    DUPLICATE = "duplicate"  # a repeated delivery; the view already accepted it once
    UNAVAILABLE = "unavailable"  # the message could not be stored: try again later


@dataclass(frozen=True)
class Reply:
    """The default protocol answer for an outcome."""

    code: int
    status: str
    text: str
    exit_code: int


# RFC 3463 enhanced status codes; RFC 5321 section 4.2 reply codes.
REPLIES: dict[Outcome, Reply] = {
    Outcome.ACCEPTED: Reply(250, "2.0.0", "Message accepted", EX_OK),
    Outcome.IGNORED: Reply(250, "2.0.0", "Message accepted", EX_OK),
    Outcome.REJECTED: Reply(550, "5.7.1", "Message refused", EX_UNAVAILABLE),
    Outcome.TEMPFAIL: Reply(451, "4.3.0", "Temporary failure, try again later", EX_TEMPFAIL),
    Outcome.NO_ROUTE: Reply(550, "5.1.1", "No such mailbox", EX_NOUSER),
    Outcome.MALFORMED: Reply(554, "5.6.0", "Malformed message", EX_DATAERR),
    Outcome.TOO_LARGE: Reply(552, "5.3.4", "Message too large", EX_DATAERR),
    Outcome.ERROR: Reply(451, "4.3.0", "Temporary failure, try again later", EX_TEMPFAIL),
    Outcome.DUPLICATE: Reply(250, "2.0.0", "Message accepted", EX_OK),
    Outcome.UNAVAILABLE: Reply(451, "4.3.0", "Temporary failure, try again later", EX_TEMPFAIL),
}


class Refusal:
    """A refusal's reply: a message, a 4xx/5xx code and an enhanced status code.

    Shared by the responses a view returns (``EmailRejectResponse``) and the
    exceptions it raises (``RejectMessage``), so both carry the same fields.
    """

    default_message = "Message refused"
    default_code = 550
    default_status = "5.7.1"

    def __init__(
        self, message: str | None = None, code: int | None = None, status: str | None = None
    ) -> None:
        self.message = message or self.default_message
        self.code = code or self.default_code
        self.status = status or self.default_status
        if not (400 <= self.code < 600) or self.status[:1] != str(self.code)[0]:
            raise ValueError(
                f"{type(self).__name__} needs a 4xx/5xx code whose class matches the "
                f"enhanced status code, got {self.code} {self.status}."
            )


class TemporaryRefusal(Refusal):
    """The defaults of a temporary refusal: 451 4.3.0."""

    default_message = "Temporary failure, try again later"
    default_code = 451
    default_status = "4.3.0"


@dataclass
class Result:
    """The result of handling a message for one envelope recipient.

    ``code``, ``status`` and ``text`` default to the outcome's row of
    :data:`REPLIES`; a view's ``EmailRejectResponse`` may override them.
    """

    recipient: str
    outcome: Outcome
    response: Any = None
    code: int | None = None
    status: str | None = None
    text: str | None = None
    error: str | None = None  # the traceback when the view raised; never sent to the peer
    route_name: str | None = None

    def __post_init__(self) -> None:
        reply = REPLIES[self.outcome]
        self.code = self.code or reply.code
        self.status = self.status or reply.status
        self.text = self.text or reply.text

    @property
    def smtp_code(self) -> int:
        return self.code

    @property
    def smtp_status(self) -> str:
        return self.status

    @property
    def exit_code(self) -> int:
        """The sysexits code ``readmail`` exits with; follows the reply class."""
        if self.code < 400:
            return EX_OK
        if self.outcome in (Outcome.NO_ROUTE, Outcome.MALFORMED, Outcome.TOO_LARGE):
            return REPLIES[self.outcome].exit_code
        return EX_TEMPFAIL if self.code < 500 else EX_UNAVAILABLE

    @property
    def is_success(self) -> bool:
        return self.code < 400

    @property
    def is_temporary(self) -> bool:
        return 400 <= self.code < 500

    def smtp_reply(self) -> str:
        """Render the SMTP/LMTP reply line, e.g. ``550 5.1.1 No such mailbox``."""
        return f"{self.code} {self.status} {self.text}"

    def __repr__(self) -> str:
        return f"<Result {self.recipient!r} {self.smtp_reply()!r}>"


def summarize(results: Sequence[Result]) -> Result:
    """Pick the one result a transport reports for a message with several recipients.

    SMTP and pipes give one answer per message. A temporary failure wins, so the
    sender retries (recipients already served are not served again: the store
    recognises the repeat); otherwise a permanent refusal, so the sender hears
    of it; otherwise success.
    """
    return min(results, key=lambda r: (not r.is_temporary, r.is_success))
