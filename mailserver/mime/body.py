"""Parse a message body into text, HTML and attachments, with flanker or the stdlib.

flanker keeps a message as one string and reads parts on demand, but it is strict:
it raises on a few percent of real mail (some Office 365 NDRs, multiparts without a
boundary) that Python's ``email`` package reads fine. Each parser is a small adapter
that yields the same leaf parts, and one function turns those leaves into what
``EmailRequest`` exposes, so the fallback is invisible to views.
"""

from __future__ import annotations

import functools
import logging
import quopri
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from mailserver.mime.charsets import decode_bytes, fix_surrogates
from mailserver.mime.headers import decode_base64, header_block

logger = logging.getLogger("mailserver.request")

#: Filename given to a forwarded message (message/rfc822 part) that names none.
FORWARDED_FILENAME = "forwarded.eml"


@dataclass(frozen=True)
class Attachment:
    """A file attached to (or embedded in) a message.

    Nested messages are attachments too, with ``content_type == "message/rfc822"``
    and their raw bytes as ``content``.
    """

    filename: str
    content_type: str
    content: bytes
    content_id: str = ""
    inline: bool = False

    @property
    def size(self) -> int:
        return len(self.content)

    def __repr__(self) -> str:
        return f"<Attachment {self.filename!r} {self.content_type} {self.size} bytes>"


class Body:
    """What a message body holds. ``parser`` is ``"flanker"`` or ``"email"``.

    Attachments are decoded on first access, so reading the text of a message with a
    large attachment does not decode the attachment.
    """

    def __init__(
        self, message: Any, parser: str, text: str, html: str, leaves: Sequence[_Leaf] = ()
    ) -> None:
        self.message = message
        self.parser = parser
        self.text = text
        self.html = html
        self._leaves = leaves

    @cached_property
    def attachments(self) -> tuple[Attachment, ...]:
        return tuple(
            Attachment(
                filename=leaf.filename,
                content_type=leaf.content_type,
                content=_safe(leaf.payload, b""),
                content_id=leaf.content_id,
                inline=leaf.disposition == "inline",
            )
            for leaf in self._leaves
        )


@dataclass(frozen=True)
class _Leaf:
    """One non-multipart part, as either adapter sees it."""

    content_type: str
    charset: str | None
    filename: str
    disposition: str
    content_id: str
    payload: Callable[[], bytes]  # Decoding is deferred until a leaf is needed.


#: The most MIME parts (and enclosed messages) a message may have to be parsed at all.
#: Each costs about a millisecond in the ``email`` package, so 50,000 tiny parts in a
#: 2 MB message would cost a minute; real mail stays far below this.
MAX_PARTS = 1000

_BOUNDARY_PARAM = re.compile(rb"""boundary\s*=\s*"?([^"\r\n;]+)""", re.IGNORECASE)
_DASH_LINE = rb"--([^\r\n]*)"
_ENCLOSED = rb"content-type\s*:\s*message/"


def count_parts(raw: bytes) -> int:
    """Count the delimiter lines of declared boundaries, and enclosed messages, in one pass.

    An upper bound on the parts a parser would build, found without building them.
    """
    boundaries = {match.strip() for match in _BOUNDARY_PARAM.findall(raw)}
    delimiters = 0
    if boundaries:
        for match in _line_starts(_DASH_LINE, raw):
            line = match.group(1).rstrip()
            if line in boundaries or line.removesuffix(b"--") in boundaries:
                delimiters += 1
    return delimiters + sum(1 for _ in _line_starts(_ENCLOSED, raw, re.IGNORECASE))


@functools.cache
def _line_start_patterns(pattern: bytes, flags: int) -> tuple[re.Pattern, re.Pattern]:
    return re.compile(pattern, flags), re.compile(rb"\n" + pattern, flags)


def _line_starts(pattern: bytes, raw: bytes, flags: int = 0) -> Iterator[re.Match]:
    """The matches of ``pattern`` that begin a line, as ``^`` and ``re.MULTILINE`` find.

    But ten times faster on a large message: the engine tries ``^`` at every byte,
    while it looks for a pattern's leading literal (here ``"\\n"``) with a fast search.
    """
    at_start, after_newline = _line_start_patterns(pattern, flags)
    first = at_start.match(raw)
    if first:
        yield first
    yield from after_newline.finditer(raw)


def parse_body(raw: bytes, max_parts: int = MAX_PARTS) -> Body:
    """Parse ``raw`` with flanker, or with Python's ``email`` package if flanker fails.

    A message with more than ``max_parts`` parts is not parsed (a MIME bomb): its
    text is the raw body, and it has no attachments.
    """
    if count_parts(raw) > max_parts:
        logger.warning(
            "Could not parse a message's MIME structure (more than %d parts).", max_parts
        )
        return _unparsed(raw)
    try:
        message, leaves = _parse_with_flanker(raw)
        return _collect(message, "flanker", leaves)
    except Exception as exc:
        logger.debug("flanker could not parse a message (%r); using the email package.", exc)
    try:
        message, leaves = _parse_with_email(raw)
        return _collect(message, "email", leaves)
    except Exception as exc:
        # Last resort, so that no message is ever unreadable: the body as text.
        logger.warning("Could not parse a message's MIME structure (%r).", exc)
        return _unparsed(raw)


def _unparsed(raw: bytes) -> Body:
    head = header_block(raw)
    text = decode_bytes(raw[len(head) :].lstrip(b"\r\n")).replace("\r\n", "\n")
    return Body(None, "email", text, "")


def _collect(message: Any, parser: str, leaves: Iterator[_Leaf]) -> Body:
    """Sort leaves into the text, the first HTML part, and attachments.

    Inline text/plain parts are joined (Apple Mail splits text around inline images,
    mailing lists append footers as parts of their own); extra HTML parts are dropped.
    """
    texts: list[str] = []
    html = None
    attachments = []
    for leaf in leaves:
        is_body = (
            leaf.content_type in ("text/plain", "text/html")
            and not leaf.filename
            and leaf.disposition != "attachment"
        )
        if not is_body:
            attachments.append(leaf)
        elif leaf.content_type == "text/plain":
            texts.append(_text(leaf))
        elif html is None:
            html = _text(leaf)
    return Body(message, parser, "\n".join(texts), html or "", attachments)


def _text(leaf: _Leaf) -> str:
    # Line endings as Python reads text files: CRLF on the wire, "\n" in a view.
    return decode_bytes(leaf.payload(), leaf.charset).replace("\r\n", "\n")


def _message_leaf(filename: str, content_id: str, payload: Callable[[], bytes]) -> _Leaf:
    return _Leaf(
        "message/rfc822", None, filename or FORWARDED_FILENAME, "attachment", content_id, payload
    )


# flanker ---------------------------------------------------------------------------


def _parse_with_flanker(raw: bytes) -> tuple[Any, Iterator[_Leaf]]:
    # flanker decodes bytes with one charset guessed for the whole message; give it
    # text whose 8-bit bytes survive as surrogate escapes, and decode each part with
    # its own declared charset below.
    message = _flanker_scan(raw.decode("utf-8", "surrogateescape"))
    # Walk eagerly, so that any flanker error surfaces here and triggers the fallback.
    return message, iter(list(_flanker_leaves(message)))


def _flanker_scan(string: str) -> Any:
    """``flanker.mime.from_string(string)``, without copying the message four times.

    flanker reads its parts through ``io.StringIO(string)``, which holds a copy of
    the message at four bytes a character for as long as the message lives. Its
    scanner is run here with a stream that reads ``string`` in place instead.
    """
    # Imported here: flanker takes a few hundred milliseconds to import, which header
    # access (and a fast ``readmail``) should not pay.
    from flanker.mime.message import scanner

    tokens = scanner.tokenize(string) or [scanner.default_content_type()]
    iterator = scanner.TokensIterator(tokens, "")  # an empty StringIO, replaced:
    iterator.string = string
    iterator.stream = TextStream(string)
    return scanner.traverse(scanner.Start(), iterator)


class TextStream:
    """A read-only ``io.StringIO`` over a string that it does not copy.

    It reads as ``StringIO(string)`` does (lines end at a line feed only, a negative
    size reads to the end), but ``read()`` slices the string, so only what is read is
    copied.
    """

    def __init__(self, string: str) -> None:
        self._string = string
        self._position = 0

    def seek(self, position: int, whence: int = 0) -> int:
        if whence or position < 0:
            raise ValueError("TextStream seeks to absolute, non-negative positions only.")
        self._position = position
        return position

    def tell(self) -> int:
        return self._position

    def read(self, size: int | None = -1) -> str:
        start = self._position
        stop = len(self._string) if size is None or size < 0 else start + size
        self._position = max(start, min(stop, len(self._string)))
        return self._string[start:stop]

    def readline(self) -> str:
        stop = self._string.find("\n", self._position) + 1 or len(self._string)
        return self.read(max(stop - self._position, 0))

    def __iter__(self) -> TextStream:
        return self

    def __next__(self) -> str:
        line = self.readline()
        if not line:
            raise StopIteration
        return line


def _flanker_leaves(part: Any) -> Iterator[_Leaf]:
    content_type = part.content_type
    if content_type.is_multipart():
        for child in part.parts:
            yield from _flanker_leaves(child)
        return
    filename = fix_surrogates(part.detected_file_name or "")
    content_id = fix_surrogates(part.headers.get("Content-Id", "") or "").strip()
    if content_type.is_message_container():
        enclosed = part.enclosed
        if enclosed is None:
            raise ValueError("A message/rfc822 part holds no message.")
        yield _message_leaf(
            filename,
            content_id,
            lambda: enclosed.to_string().encode("utf-8", "surrogateescape"),
        )
        return
    disposition = (part.content_disposition[0] or "").lower()
    body = _flanker_raw_body(part)
    encoding = str(part.content_encoding.value or "").lower()
    yield _Leaf(
        content_type=f"{content_type.main}/{content_type.sub}".lower(),
        charset=content_type.params.get("charset"),
        filename=filename,
        disposition=disposition,
        content_id=content_id,
        payload=lambda: _decode_transfer_encoding(body(), encoding),
    )


def _flanker_raw_body(part: Any) -> Callable[[], bytes]:
    """Return a function that reads the part's still-encoded body.

    Not the body itself: a view that reads only the text need not copy the
    attachments. flanker's own decoded ``body`` is not used, as it has been through
    flanker's whole-message charset guess.
    """
    container = part._container
    if not hasattr(container, "read_body"):
        return lambda: _encode(part.body)
    container._load_headers()  # finds where the body starts, and may raise: now
    string, start, end = container.string, container._body_start, container.end
    # What flanker's read_body() reads, sliced here rather than read through the
    # stream that the parts share, which threads reading attachments would race on.
    stop = len(string) if end < start - 1 else end + 1
    return lambda: _encode(string[start:stop])


def _encode(body: str | bytes | None) -> bytes:
    return body.encode("utf-8", "surrogateescape") if isinstance(body, str) else body or b""


def _decode_transfer_encoding(body: bytes, encoding: str) -> bytes:
    if encoding == "base64":
        decoded = decode_base64(body)
        return body if decoded is None else decoded
    if encoding == "quoted-printable":
        return quopri.decodestring(body)
    return body


# Python's email package --------------------------------------------------------------


def _parse_with_email(raw: bytes) -> tuple[Any, Iterator[_Leaf]]:
    from email import policy
    from email.parser import BytesParser

    message = BytesParser(policy=policy.default).parsebytes(raw)
    return message, _email_leaves(message)


def _email_leaves(part: Any) -> Iterator[_Leaf]:
    content_type = _safe(part.get_content_type, "text/plain").lower()
    filename = fix_surrogates(_safe(part.get_filename, "") or "")
    content_id = fix_surrogates(str(part.get("Content-ID", "") or "")).strip()
    if content_type in ("message/rfc822", "message/news"):
        yield _message_leaf(filename, content_id, lambda: _email_enclosed(part))
    elif part.is_multipart():
        for child in part.get_payload():
            yield from _email_leaves(child)
    else:
        if content_type.startswith("multipart/"):
            # A multipart without a usable boundary. RFC 2045 section 5.2: an invalid
            # Content-Type means text/plain, which at least keeps the content readable.
            content_type = "text/plain"
        yield _Leaf(
            content_type=content_type,
            charset=_safe(part.get_content_charset, None),
            filename=filename,
            disposition=(_safe(part.get_content_disposition, "") or "").lower(),
            content_id=content_id,
            payload=lambda: _safe(lambda: part.get_payload(decode=True), b"") or b"",
        )


def _email_enclosed(part: Any) -> bytes:
    from email import policy

    payload = part.get_payload()
    if isinstance(payload, list) and payload:
        return _safe(lambda: payload[0].as_bytes(policy=policy.compat32), b"")
    return _safe(lambda: part.get_payload(decode=True), b"") or b""


def _safe(function: Callable[[], Any], default: Any) -> Any:
    # The email package parses parameters lazily and has raised on hostile input
    # before; one bad header should cost one value, not the whole message.
    try:
        return function()
    except Exception:
        return default
