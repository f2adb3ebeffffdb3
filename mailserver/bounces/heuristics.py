"""Bounces that are not RFC 3464 DSNs: the free-text notices most MTAs send.

flufl.bounce finds the failed addresses in the formats it knows; this
module adds the formats it misses, and reads permanence from the SMTP
reply codes and enhanced status codes written near each address, which
flufl.bounce does not report.
"""

import logging
import re
from collections.abc import Iterable, Iterator
from email.message import Message
from email.utils import getaddresses

from flufl.bounce import all_failures

from . import codes, mime
from .report import BOUNCE, DELAYED, FAILED, BouncedRecipient, BounceReport

logger = logging.getLogger("mailserver.bounces")

# Who sends bounces (RFC 5321 section 4.5.5 null sender aside): the local
# parts MTAs use for their notices.
DAEMON_LOCAL_PART_RE = re.compile(
    r"^(?:mailer[-_]?daemon|mail[-_]?daemon|postmaster|mail[-_]?delivery[-_]?(?:sub)?system"
    r"|microsoftexchange[0-9a-f]{0,32})$",
    re.IGNORECASE,
)
# Subjects MTAs give their notices.  Anchored at the start, so a person's
# "Fwd: Mail delivery failed" is not one.
SUBJECT_RE = re.compile(
    r"^\s*(?:undelivered mail|undeliverable|undelivered|mail delivery failed"
    r"|delivery status notification|returned mail|failure notice|delivery failure"
    r"|message delivery failed|delivery failed|delivery has failed|mail system error"
    r"|non[- ]?delivery|nondeliverable|delayed mail|delivery delayed"
    r"|warning: message \S+ delayed|warning: could not send message"
    r"|could not deliver|mail could not be delivered|message not delivered"
    r"|unzustellbar|nicht zustellbar|non remis|non recapitabile|no se puede entregar)",
    re.IGNORECASE,
)
# Words of a notice that the MTA is still trying: whatever the codes say,
# such a notice reports a delay, not a failure.
WARNING_RE = re.compile(
    r"\bdelayed\b|not yet been delivered|still undelivered|will keep trying|will be retried"
    r"|still being retried|warning message only|delivery attempts will continue"
    r"|will continue to try|has been postponed",
    re.IGNORECASE,
)

# Formats flufl.bounce misses: (start of the recipient list, address pattern).
ADDRESS = r"[^\s<>@]+@[^\s<>@]+"
DETECTORS = [
    # Postfix notices without a DSN part.
    (
        re.compile(
            r"^\s*(?:this is the (?:postfix program|mail system) at host"
            r"|i'm sorry to have to inform you)",
            re.IGNORECASE | re.MULTILINE,
        ),
        re.compile(rf"^<({ADDRESS})>:", re.MULTILINE),
    ),
    # Microsoft Exchange and Office 365 NDRs.
    (
        re.compile(
            r"delivery has failed to these recipients or groups"
            r"|the following recipient\(s\) (?:could not|cannot) be reached"
            r"|did not reach the following recipient",
            re.IGNORECASE,
        ),
        re.compile(rf"^[ \t]*({ADDRESS}?)(?:<mailto:[^>]*>|[ \t]+on[ \t]|[ \t]*$)", re.MULTILINE),
    ),
    # Sendmail transcripts: "<bob@example.net>... Deferred: ...".
    (
        re.compile(r"transcript of session follows", re.IGNORECASE),
        re.compile(rf"^[ \t]*<?({ADDRESS}?)>?\.\.\.[ \t]", re.MULTILINE),
    ),
    # Generic wording: "could not be delivered to bob@example.net".
    (
        re.compile(r""),
        re.compile(
            rf"(?:could not|couldn't|wasn't|was not) be(?:en)? delivered to:?\s*<?({ADDRESS})",
            re.IGNORECASE,
        ),
    ),
]
END_OF_NOTICE_RE = re.compile(r"^\s*original message headers:", re.IGNORECASE | re.MULTILINE)

# Lines of context read after an address for its reply code, and how many
# of its mentions are read.
WINDOW_LINES = 12
MAX_WINDOWS = 10


def applies(msg: Message) -> bool:
    """Tell whether the message comes from a delivery system.

    Only such messages are searched for failed addresses, so a person
    forwarding a bounce, or a newsletter explaining them, is never one.
    """
    if mime.raw_header(msg, "X-Failed-Recipients").strip():
        return True
    if msg.get_content_type() == "multipart/report":
        return True
    if SUBJECT_RE.match(mime.header_text(msg, "Subject")):
        return True
    senders = getaddresses(mime.raw_headers(msg, "From") + mime.raw_headers(msg, "Sender"))
    return any(DAEMON_LOCAL_PART_RE.match(address.rpartition("@")[0]) for _, address in senders)


def parse(msg: Message) -> BounceReport | None:
    """Read a non-standard bounce; None when no failed address is found."""
    text = mime.notification_text(msg)
    actions = flufl_failures(msg) or {address: FAILED for address in detect(text)}
    own = {
        mime.normalise_address(address)
        for _, address in getaddresses(mime.raw_headers(msg, "From") + mime.raw_headers(msg, "To"))
    }
    notice = Notice(text, actions)
    addresses = sorted(
        (address for address in actions if address not in own),
        key=lambda address: (notice.position(address), address),
    )
    if not addresses:
        return None
    warning = bool(WARNING_RE.search(mime.header_text(msg, "Subject")) or WARNING_RE.search(text))
    recipients = [
        recipient(address, DELAYED if warning else actions[address], notice, len(addresses))
        for address in addresses
    ]
    return BounceReport(
        kind=BOUNCE, recipients=recipients, original_message_id=mime.original_message_id(msg)
    )


def flufl_failures(msg: Message) -> dict[str, str]:
    """Return {address: action} for the failures flufl.bounce detects."""
    try:
        temporary, permanent = all_failures(msg)
    except Exception:
        # A detector choking on a malformed message is flufl.bounce's bug
        # to fix, not a reason to lose the message: fall back to our own.
        logger.warning("flufl.bounce failed on a message.", exc_info=True)
        return {}
    actions = {}
    for found, action in ((permanent, FAILED), (temporary, DELAYED)):
        for raw in found:
            address = mime.normalise_address(raw.decode("ascii", "replace"))
            if address is not None:
                actions[address] = action
    return actions


def detect(text: str) -> list[str]:
    """Find failed addresses in the formats flufl.bounce misses."""
    end = END_OF_NOTICE_RE.search(text)
    text = text[: end.start()] if end else text
    for start_re, address_re in DETECTORS:
        start = start_re.search(text)
        if start is None:
            continue
        found = {}  # A dict keeps the order and drops repeats.
        for match in address_re.finditer(text, start.end()):
            if (address := mime.normalise_address(match[1])) is not None:
                found[address] = None
        if found:
            return list(found)
    return []


def recipient(address: str, action: str, notice: "Notice", count: int) -> BouncedRecipient:
    """Read the reply code given for address, and from it the permanence.

    The code is searched in the lines after each mention of the address;
    when the notice names a single address, anywhere in it.  No code means
    the permanence is unknown, so the failure is reported as temporary.
    """
    windows = list(notice.windows(address))
    context = next((window for window in windows if codes.failure_class(window)), "")
    if not context and count == 1:
        context = next((line for line in notice.lines if codes.failure_class(line)), "")
    failure_class = codes.failure_class(context)
    return BouncedRecipient(
        address=address,
        permanent=action == FAILED and failure_class == codes.PERMANENT,
        status=codes.enhanced_status(context),
        diagnostic=mime.collapse(context or (windows[0] if windows else "")),
        action=action,
    )


class Notice:
    """The lines of a notice, indexed by the addresses each one mentions.

    The index keeps the work linear however many recipients a notice lists.
    """

    ADDRESS_TOKEN_RE = re.compile(r"[^\s<>()\[\]'\",;:]+@[^\s<>()\[\]'\",;:]+")

    def __init__(self, text: str, recipients: Iterable[str]):
        self.lines = text.splitlines()
        self.recipients = {address.lower() for address in recipients}
        self.mentions: list[set[str]] = []
        self.first_line: dict[str, int] = {}
        self.lines_of: dict[str, list[int]] = {}
        for index, line in enumerate(self.lines):
            found = set()
            for token in self.ADDRESS_TOKEN_RE.findall(line):
                if (address := mime.normalise_address(token)) is not None:
                    found.add(address.lower())
            self.mentions.append(found)
            for address in found:
                self.first_line.setdefault(address, index)
                self.lines_of.setdefault(address, []).append(index)

    def mentions_other(self, index: int, address: str) -> bool:
        return any(other != address for other in self.mentions[index] & self.recipients)

    def position(self, address: str) -> int:
        """Order recipients as the notice lists them."""
        return self.first_line.get(address.lower(), len(self.lines))

    def windows(self, address: str) -> Iterator[str]:
        """Yield the paragraph after each mention of address, up to another recipient."""
        address = address.lower()
        for index in self.lines_of.get(address, [])[:MAX_WINDOWS]:
            window = [self.lines[index]]
            for following in range(index + 1, min(index + WINDOW_LINES, len(self.lines))):
                if not self.lines[following].strip() or self.mentions_other(following, address):
                    break
                window.append(self.lines[following])
            yield "\n".join(window)
