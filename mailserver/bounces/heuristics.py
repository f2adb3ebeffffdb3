"""Bounces that are not RFC 3464 DSNs: the free-text notices most MTAs send.

flufl.bounce finds the failed addresses in the formats it knows; this
module adds the formats it misses, and reads permanence from the SMTP
reply codes and enhanced status codes written near each address, which
flufl.bounce does not report.
"""

import logging
import re
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

# Lines of context read after an address for its reply code.
WINDOW_LINES = 12


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
    addresses = sorted(
        (address for address in actions if address not in own),
        key=lambda address: (position(text, address), address),
    )
    if not addresses:
        return None
    warning = bool(WARNING_RE.search(mime.header_text(msg, "Subject")) or WARNING_RE.search(text))
    recipients = []
    for address in addresses:
        others = [other.lower() for other in addresses if other != address]
        action = DELAYED if warning else actions[address]
        recipients.append(recipient(address, action, text, others))
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
        found = []
        for match in address_re.finditer(text, start.end()):
            address = mime.normalise_address(match[1])
            if address is not None and address not in found:
                found.append(address)
        if found:
            return found
    return []


def recipient(address: str, action: str, text: str, others: list[str]) -> BouncedRecipient:
    """Read the reply code given for address, and from it the permanence.

    The code is searched in the lines after each mention of the address;
    when the notice names a single address, anywhere in it.  No code means
    the permanence is unknown, so the failure is reported as temporary.
    """
    windows = list(address_windows(text, address, others))
    context = next((window for window in windows if codes.failure_class(window)), "")
    if not context and not others:
        context = next((line for line in text.splitlines() if codes.failure_class(line)), "")
    failure_class = codes.failure_class(context)
    return BouncedRecipient(
        address=address,
        permanent=action == FAILED and failure_class == codes.PERMANENT,
        status=codes.enhanced_status(context),
        diagnostic=mime.collapse(context or (windows[0] if windows else "")),
        action=action,
    )


def address_windows(text: str, address: str, others: list[str]):
    """Yield the paragraph after each mention of address, up to another address."""
    lines = text.splitlines()
    needle = address.lower()
    for index, line in enumerate(lines):
        if needle not in line.lower():
            continue
        window = [line]
        for following in lines[index + 1 : index + WINDOW_LINES]:
            lowered = following.lower()
            if not following.strip() or any(other in lowered for other in others):
                break
            window.append(following)
        yield "\n".join(window)


def position(text: str, address: str) -> int:
    index = text.lower().find(address.lower())
    return index if index >= 0 else len(text)
