"""Parse a message body into text, HTML and attachments, with flanker or the stdlib.

flanker keeps a message as one string and reads parts on demand, but it is strict:
it raises on a few percent of real mail (some Office 365 NDRs, multiparts without a
boundary) that Python's ``email`` package reads fine. Each parser is a small adapter
that yields the same leaf parts, and one function turns those leaves into what
``EmailRequest`` exposes, so the fallback is invisible to views.
"""

from __future__ import annotations

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
_DASH_LINE = re.compile(rb"^--([^\r\n]*)", re.MULTILINE)
_ENCLOSED = re.compile(rb"^content-type\s*:\s*message/", re.IGNORECASE | re.MULTILINE)


def count_parts(raw: bytes) -> int:
    """Count the delimiter lines of declared boundaries, and enclosed messages, in one pass.

    An upper bound on the parts a parser would build, found without building them.
    """
    boundaries = {match.strip() for match in _BOUNDARY_PARAM.findall(raw)}
    delimiters = 0
    if boundaries:
        for match in _DASH_LINE.finditer(raw):
            line = match.group(1).rstrip()
            if line in boundaries or line.removesuffix(b"--") in boundaries:
                delimiters += 1
    return delimiters + len(_ENCLOSED.findall(raw))


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
    # Imported here: flanker takes a few hundred milliseconds to import, which header
    # access (and a fast ``readmail``) should not pay.
    from flanker import mime

    # flanker decodes bytes with one charset guessed for the whole message; give it
    # text whose 8-bit bytes survive as surrogate escapes, and decode each part with
    # its own declared charset below.
    message = mime.from_string(raw.decode("utf-8", "surrogateescape"))
    # Walk eagerly, so that any flanker error surfaces here and triggers the fallback.
    return message, iter(list(_flanker_leaves(message)))


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
        payload=lambda: _decode_transfer_encoding(body, encoding),
    )


def _flanker_raw_body(part: Any) -> bytes:
    # The still-encoded body, read from flanker's stream: flanker's own decoded
    # ``body`` has already been through its whole-message charset guess.
    container = part._container
    if hasattr(container, "read_body"):
        return container.read_body().encode("utf-8", "surrogateescape")
    body = part.body
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
