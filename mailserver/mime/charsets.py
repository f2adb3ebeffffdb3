"""Decode bytes in whatever charset a message claims, best effort, never raising."""

from __future__ import annotations

import codecs
from functools import lru_cache

# What mail clients mean, not what they say: the WHATWG encoding standard maps these
# labels to their supersets, because senders routinely label windows-1252 text as
# ISO-8859-1 (or ASCII) and CP932 text as Shift_JIS.
ALIASES = {
    "us-ascii": "cp1252",
    "ascii": "cp1252",
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "l1": "cp1252",
    "iso-8859-9": "cp1254",
    "iso-8859-11": "cp874",
    "tis-620": "cp874",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "ks_c_5601-1987": "cp949",
    "euc-kr": "cp949",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "utf8": "utf-8",
    "x-unknown": "",
    "unknown-8bit": "",
    "unknown": "",
    "x-user-defined": "",
}

#: Used when a charset is missing or unknown and the bytes are not UTF-8.
FALLBACK = "cp1252"


@lru_cache(maxsize=256)
def normalize_charset(charset: str | None) -> str | None:
    """Return a Python codec name for ``charset``, or ``None`` if it is unknown."""
    if not charset:
        return None
    name = charset.strip().strip("\"'").lower()
    name = ALIASES.get(name, name)
    if not name:
        return None
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError):
        return None
    # Only text encodings: "base64" or "rot13" are codecs too, but not charsets.
    if not getattr(info, "_is_text_encoding", True):
        return None
    return name


def decode_bytes(data: bytes, charset: str | None = None) -> str:
    """Decode ``data`` as ``charset``; guess UTF-8 then windows-1252 if it is unknown.

    Undecodable bytes become U+FFFD: the result is always a ``str``.
    """
    codec = normalize_charset(charset)
    if codec is None:
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            codec = FALLBACK
    try:
        return data.decode(codec, "replace")
    except Exception:  # A broken codec implementation; never let it escape.
        return data.decode(FALLBACK, "replace")


def fix_surrogates(text: str) -> str:
    """Re-decode 8-bit bytes that a parser smuggled through as surrogate escapes."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        pass
    else:
        return text
    try:
        return decode_bytes(text.encode("utf-8", "surrogateescape"))
    except UnicodeEncodeError:  # A lone surrogate that no parser made: drop it.
        return text.encode("utf-8", "replace").decode("utf-8")
