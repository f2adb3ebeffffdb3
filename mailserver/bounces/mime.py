"""Reading the parts of a report message that the classifiers share.

Everything here tolerates broken input: bounces come from every MTA ever
written, so a bad charset or a missing part gives an empty value, never an
exception.
"""

import re
from collections.abc import Iterator
from email.errors import HeaderParseError
from email.header import decode_header, make_header
from email.message import Message
from email.parser import HeaderParser
from email.policy import compat32

# A returned message is attached as one of these (RFC 3462, RFC 6532).
RETURNED_MESSAGE_TYPES = ("message/rfc822", "message/global")
RETURNED_HEADERS_TYPES = ("text/rfc822-headers", "message/global-headers")

# Nothing legitimate nests deeper; a hostile message may nest thousands deep.
MAX_DEPTH = 20

# Markers after which MTAs paste the returned message into a text part.
RETURNED_COPY_RE = re.compile(
    r"^\s*-{2,}\s*(?:"
    r"this is a copy of the message|below this line is a copy of the message"
    r"|original message|undelivered message follows|returned message"
    r"|unsent message below|start of returned message"
    r")",
    re.IGNORECASE | re.MULTILINE,
)
MESSAGE_ID_LINE_RE = re.compile(r"^[ \t]*Message-ID:[ \t]*(\S+)", re.IGNORECASE | re.MULTILINE)
MESSAGE_ID_RE = re.compile(r"<([^<>\s]+)>")
TAG_RE = re.compile(r"<[^<>]{0,2000}>")
SPACE_RE = re.compile(r"\s+")

# RFC 5321 section 4.5.3.1: 64 octets of local part, 255 of domain.
MAX_ADDRESS_LENGTH = 320


def raw_headers(msg: Message, name: str) -> list[str]:
    """Return every value of a header as written (no RFC 2047 decoding).

    Raw 8-bit bytes (RFC 6532 UTF-8 headers, as in RFC 6533 reports) are
    decoded as UTF-8 rather than left as the parser's surrogate escapes.
    """
    name = name.lower()
    return [
        str(value).encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        for key, value in msg.raw_items()
        if key.lower() == name
    ]


def raw_header(msg: Message, name: str) -> str:
    """Return the first value of a header as written, or "" if absent."""
    values = raw_headers(msg, name)
    return values[0] if values else ""


def header_text(msg: Message, name: str) -> str:
    """Return a header decoded from RFC 2047 encoded words, or "" if absent."""
    value = raw_header(msg, name)
    if "=?" not in value:
        return value
    try:
        return str(make_header(decode_header(value)))
    except (HeaderParseError, LookupError, UnicodeError, ValueError, TypeError):
        # An undecodable encoded word: the raw text beats nothing.
        return value


def walk(msg: Message) -> Iterator[Message]:
    """Yield the parts of the report itself, not those of a returned message.

    Multiparts are entered; message/* and text/rfc822-headers parts are
    yielded but not entered, so the returned message's own text never passes
    for the report's.
    """
    stack = [(msg, 0)]
    while stack:
        part, depth = stack.pop()
        yield part
        if depth >= MAX_DEPTH or part.get_content_maintype() != "multipart":
            continue
        payload = part.get_payload()
        if isinstance(payload, list):
            stack.extend((child, depth + 1) for child in reversed(payload))


def decoded_text(part: Message) -> str:
    """Return a leaf part's body as text, undoing transfer encoding and charset."""
    if part.is_multipart():
        return ""
    try:
        data = part.get_payload(decode=True)
    except (ValueError, TypeError, LookupError, UnicodeError):
        return ""
    if not isinstance(data, bytes):
        return ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return data.decode(charset, errors="replace")
    except (LookupError, UnicodeError, ValueError):
        # An unknown charset name: UTF-8 is the likeliest truth today.
        return data.decode("utf-8", errors="replace")


def body_text(msg: Message) -> str:
    """Return the human-readable text of the report, returned copy included.

    HTML is used, stripped of tags, only when there is no text/plain part.
    """
    plain, html = [], []
    for part in walk(msg):
        content_type = part.get_content_type()
        if content_type == "text/plain":
            plain.append(decoded_text(part))
        elif content_type == "text/html":
            html.append(TAG_RE.sub(" ", decoded_text(part)))
    return "\n".join(plain or html)


def notification_text(msg: Message) -> str:
    """Return the report's own words, without a returned message pasted inline."""
    text = body_text(msg)
    match = RETURNED_COPY_RE.search(text)
    return text[: match.start()] if match else text


def returned_headers(msg: Message) -> Message | None:
    """Return the headers of the returned message, when the report has them."""
    for part in walk(msg):
        content_type = part.get_content_type()
        if content_type in RETURNED_MESSAGE_TYPES or content_type in RETURNED_HEADERS_TYPES:
            # The parser has already parsed message/* parts as messages.
            payload = part.get_payload()
            if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                return payload[0]
            return parse_headers(decoded_text(part))
    return None


def parse_headers(text: str) -> Message:
    """Parse a block of header fields (a returned header part, a DSN block)."""
    return HeaderParser(policy=compat32).parsestr(text.lstrip("\r\n"))


def normalise_message_id(value: str) -> str | None:
    """Return a Message-ID as "<id@host>", accepting one written without brackets."""
    if match := MESSAGE_ID_RE.search(value):
        return f"<{match[1]}>"
    value = value.strip()
    if "@" in value and not SPACE_RE.search(value) and len(value) <= 998:
        return f"<{value}>"
    return None


def original_message_id(msg: Message, prefer_reply: bool = False) -> str | None:
    """Find the Message-ID of the message this report is about.

    For a bounce the returned message or headers are the best witness; then
    a Message-ID line pasted into the text; then the report's own
    In-Reply-To and References, which some MTAs set.  An auto-reply
    (prefer_reply) is a reply first, and its headers say what it answers.
    """
    if prefer_reply and (found := replied_message_id(msg)):
        return found
    headers = returned_headers(msg)
    if headers is not None and (found := normalise_message_id(raw_header(headers, "Message-ID"))):
        return found
    match = MESSAGE_ID_LINE_RE.search(body_text(msg))
    if match and (found := normalise_message_id(match[1])):
        return found
    return replied_message_id(msg)


def replied_message_id(msg: Message) -> str | None:
    """Return the Message-ID a reply answers: In-Reply-To, else the last of References."""
    if found := normalise_message_id(raw_header(msg, "In-Reply-To")):
        return found
    references = MESSAGE_ID_RE.findall(raw_header(msg, "References"))
    return f"<{references[-1]}>" if references else None


def normalise_address(value: str) -> str | None:
    """Return a plausible mailbox address, domain lowercased, or None.

    The local part keeps its case (RFC 5321 section 2.4 leaves it to the
    receiving host); trailing punctuation a sentence left behind is dropped.
    """
    address = value.strip().strip("<>").strip().rstrip(".,;:)").lstrip("(")
    local, at, domain = address.rpartition("@")
    if (
        not at
        or not local
        or not domain
        or "@" in local
        or "." not in domain.strip(".")
        or len(address) > MAX_ADDRESS_LENGTH
        or SPACE_RE.search(address)
        or any(c in address for c in "<>()[],;:\"'\\")
    ):
        return None
    return f"{local}@{domain.lower()}"


def collapse(text: str, limit: int = 500) -> str:
    """Fold whitespace (header continuations, wrapped lines) into single spaces."""
    return SPACE_RE.sub(" ", text).strip()[:limit]


def typed_value(value: str) -> str:
    """Strip the type from "rfc822; bob@example.net" or "smtp; 550 ..." (RFC 3464 2.1.2)."""
    kind, semicolon, rest = value.partition(";")
    if semicolon and " " not in kind.strip() and "@" not in kind:
        return rest.strip()
    return value.strip()
