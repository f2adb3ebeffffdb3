"""Parse and decode a message's header section (RFC 5322, RFC 2047), never raising.

Only the header block is read (the bytes before the first blank line), with a small
hand-written parser: header attributes of a 10 MB message cost what they cost for a
2 KB one, and importing this module stays cheap for ``readmail``.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from email.utils import getaddresses, parsedate_to_datetime

from mailserver.mime.charsets import decode_bytes

_BLANK_LINE = re.compile(rb"\r?\n\r?\n")
# RFC 5322 section 3.6.8: a field name is printable US-ASCII except the colon.
_FIELD_NAME = re.compile(rb"[!-9;-~]+")
# RFC 2047 section 2, with the RFC 2231 section 5 language suffix ("utf-8*en").
_ENCODED_WORD = re.compile(r"=\?([^?\s*]+)(?:\*[^?\s]*)?\?([QqBb])\?([^?\s]*)\?=")
_NOT_BASE64 = re.compile(rb"[^A-Za-z0-9+/]")
# C0 and C1 controls (CR and LF among them) and the Unicode line separators: none may
# survive into a header value, where they could end the line and start a new header.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
# RFC 5322 section 3.6.4, leniently: anything without whitespace or brackets inside <>.
_MSG_ID = re.compile(r"<[^<>\s\x00-\x1f\x7f]+>")


def header_block(raw: bytes) -> bytes:
    """Return the header section of ``raw``: everything before the first blank line."""
    if raw.startswith((b"\n", b"\r\n")):
        return b""
    match = _BLANK_LINE.search(raw)
    return raw if match is None else raw[: match.start()]


def parse_fields(block: bytes) -> list[tuple[str, str]]:
    """Split a header block into unfolded ``(name, value)`` pairs, values still encoded.

    Lines that are not headers (an mbox ``From `` line, garbage) are skipped. 8-bit
    bytes (RFC 6532 UTF-8 headers, or a local charset) are decoded best effort.
    """
    fields: list[tuple[bytes, list[bytes]]] = []
    for line in block.splitlines():
        if line[:1] in (b" ", b"\t"):
            if fields:
                fields[-1][1].append(line)
            continue
        name, colon, value = line.partition(b":")
        # RFC 5322 section 4.5 (obsolete syntax) allows whitespace before the colon.
        name = name.rstrip(b" \t")
        if colon and _FIELD_NAME.fullmatch(name):
            fields.append((name, [value]))
    return [(_text(name), _text(b"".join(parts)).strip()) for name, parts in fields]


def _text(data: bytes) -> str:
    return data.decode("ascii") if data.isascii() else decode_bytes(data)


def clean(value: str) -> str:
    """Replace control characters (CR and LF among them) with spaces and strip."""
    return _CONTROL.sub(" ", value).strip()


def decode_header_value(value: str) -> str:
    """Decode the RFC 2047 encoded words in ``value``, in any charset, and clean it."""
    return clean(decode_words(value))


def decode_words(value: str) -> str:
    """Decode RFC 2047 encoded words, joining adjacent words of one charset first.

    Joining the bytes before decoding them matters: encoders split multibyte
    characters across words more often than the RFC allows.
    """
    if "=?" not in value:
        return value
    chunks: list[list] = []  # [charset, bytes] for encoded words, [None, str] for text
    position = 0
    after_word = False
    for match in _ENCODED_WORD.finditer(value):
        between = value[position : match.start()]
        # RFC 2047 section 6.2: whitespace between adjacent encoded words is dropped.
        if between and not (after_word and between.isspace()):
            chunks.append([None, between])
            after_word = False
        charset, encoding, text = match.groups()
        data = _decode_word(encoding.upper(), text)
        if data is None:
            chunks.append([None, match.group()])
            after_word = False
        elif after_word and chunks[-1][0] == charset.lower():
            chunks[-1][1] += data
        else:
            # A bytearray, so that joining thousands of words is linear, not quadratic.
            chunks.append([charset.lower(), bytearray(data)])
            after_word = True
        position = match.end()
    chunks.append([None, value[position:]])
    return "".join(
        data if charset is None else decode_bytes(data, charset) for charset, data in chunks
    )


def _decode_word(encoding: str, text: str) -> bytes | None:
    if encoding == "Q":
        return binascii.a2b_qp(text.encode(), header=True)
    return decode_base64(text.encode())


def decode_base64(data: bytes) -> bytes | None:
    """Decode base64 as mail readers do: drop stray bytes and repair the padding."""
    data = _NOT_BASE64.sub(b"", data)
    if len(data) % 4 == 1:
        data = data[:-1]
    try:
        return base64.b64decode(data + b"=" * (-len(data) % 4))
    except binascii.Error:
        return None


def parse_addresses(value: str) -> list[tuple[str, str]]:
    """Return the ``(display name, addr-spec)`` pairs of an address header.

    Addresses are split before display names are decoded, so that an encoded comma
    in a name cannot split it in two. Empty groups and unparsable entries are dropped.
    """
    try:
        pairs = getaddresses([value])
    except Exception:  # The stdlib parser has raised on hostile input before.
        return []
    result = []
    for name, address in pairs:
        address = _CONTROL.sub("", address).strip()
        if address:
            result.append((decode_header_value(name), address))
    return result


def parse_message_ids(value: str) -> list[str]:
    """Return the ``<id>`` tokens of a Message-ID, In-Reply-To or References value."""
    ids = _MSG_ID.findall(value)
    if not ids:
        # Some senders forget the angle brackets around a single id.
        token = clean(value).strip("<>")
        if token and not any(char.isspace() or char in "<>" for char in token):
            ids = [f"<{token}>"]
    return ids


def parse_date(value: str) -> datetime | None:
    """Return an aware datetime for an RFC 5322 date, or ``None`` if it is unreadable."""
    try:
        date = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    # RFC 5322 section 3.3: "-0000" means UTC with no claim about local time.
    return date.replace(tzinfo=UTC) if date.tzinfo is None else date


class HeaderMap(Mapping[str, str]):
    """A read-only, case-insensitive mapping of header names to decoded values.

    ``headers["Subject"]`` is the first value of a header, like ``email.message``;
    ``headers.get_all("Received")`` lists every value in order. ``fields`` keeps the
    unfolded ``(name, value)`` pairs before RFC 2047 decoding.
    """

    def __init__(self, fields: list[tuple[str, str]]) -> None:
        self.fields = fields
        self._values: dict[str, list[str]] = {}
        self._names: dict[str, str] = {}
        for name, value in fields:
            key = name.lower()
            self._names.setdefault(key, name)
            self._values.setdefault(key, []).append(decode_header_value(value))

    @classmethod
    def from_bytes(cls, raw: bytes) -> HeaderMap:
        """Parse the header section of the message ``raw``."""
        return cls(parse_fields(header_block(raw)))

    def __getitem__(self, name: str) -> str:
        if not isinstance(name, str):
            raise KeyError(name)
        return self._values[name.lower()][0]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._values

    def __iter__(self) -> Iterator[str]:
        return iter(self._names.values())

    def __len__(self) -> int:
        return len(self._names)

    def get_all(self, name: str) -> list[str]:
        """Return every decoded value of header ``name``, in order (``[]`` if none)."""
        return list(self._values.get(name.lower(), ()))

    def get_raw(self, name: str) -> list[str]:
        """Return every value of header ``name`` before RFC 2047 decoding."""
        key = name.lower()
        return [value for field, value in self.fields if field.lower() == key]

    def __repr__(self) -> str:
        return f"<HeaderMap {dict(self)!r}>"
