"""What a delivery returns: one SMTP reply per envelope recipient."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# RFC 3463: class.subject.detail.
ENHANCED_STATUS_RE = re.compile(r"^([245])\.(\d{1,3})\.(\d{1,3})\b")


@dataclass(frozen=True)
class Reply:
    """An SMTP reply (RFC 5321 section 4.2) to one recipient."""

    code: int
    text: str = ""

    @property
    def accepted(self) -> bool:
        return 200 <= self.code < 300

    @property
    def permanent(self) -> bool:
        return self.code >= 500

    @property
    def temporary(self) -> bool:
        return 400 <= self.code < 500

    @property
    def status(self) -> str | None:
        """The enhanced status code (RFC 3463) at the start of the text, if any."""
        match = ENHANCED_STATUS_RE.match(self.text)
        return match.group(0) if match else None

    @property
    def slow_down(self) -> bool:
        """The server asked us to back off: 421, or a 4.7.x policy deferral."""
        status = self.status or ""
        return self.code == 421 or (self.temporary and status.startswith("4.7."))

    def __str__(self) -> str:
        return f"{self.code} {self.text}".strip()


@dataclass
class Delivery:
    """The outcome of handing one message to a backend.

    ``replies`` has one entry per recipient tried. ``error`` is set when the
    whole attempt failed before the server could judge the message (no
    connection, an exception), ``poison`` when that error looks like the
    message's own fault rather than the network's.
    """

    replies: dict[str, Reply] = field(default_factory=dict)
    error: str = ""
    poison: bool = False
    transcript: str = ""
