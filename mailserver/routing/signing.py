"""Short signed tokens that fit in a local part and survive case changes.

A token is ``kind + [expiry] + payload + mac``, all in ``[0-9a-z]``:

- ``kind`` is one character: ``0`` plain payload, ``1`` base32 payload, ``2``
  and ``3`` the same with an expiry;
- ``expiry`` is the Unix time the token stops working, seven base-36 digits;
- ``payload`` is the value itself when it is already lower-case alphanumeric
  (ids, the common case), else its UTF-8 bytes in lower-case base32;
- ``mac`` is the HMAC of the rest from ``django.core.signing.Signer``
  (``SECRET_KEY``, then ``SECRET_KEY_FALLBACKS``), in base32, cut to
  :data:`MAC_LENGTH` characters.

RFC 5321 section 4.5.3.1.1 limits a local part to 64 octets, and MTAs may
change its case, hence no separators, no padding and a single letter case: a
10-digit id makes a 21-character token. 50 bits of MAC make forging a reply
address a matter of about 2**49 delivered guesses.
"""

from __future__ import annotations

import base64
import re
import time
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core import signing
from django.utils.crypto import constant_time_compare

SALT = "mailserver.routing.signed"
MAC_LENGTH = 10
EXPIRY_LENGTH = 7
MIN_TOKEN_LENGTH = 1 + MAC_LENGTH

_PLAIN_RE = re.compile(r"[0-9a-z]*")
_DIGITS36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def sign(value: Any, expires: timedelta | datetime | None = None) -> str:
    """Return a token for ``str(value)``, valid until ``expires`` if given.

    ``expires`` is a lifetime (``timedelta``) or a moment (aware ``datetime``).
    """
    text = str(value)
    plain = bool(_PLAIN_RE.fullmatch(text))
    payload = text if plain else base64.b32encode(text.encode()).decode().rstrip("=").lower()
    if expires is None:
        body = ("0" if plain else "1") + payload
    else:
        if isinstance(expires, timedelta):
            moment = time.time() + expires.total_seconds()
        else:
            moment = expires.timestamp()
        body = ("2" if plain else "3") + _base36(max(int(moment), 0)) + payload
    return body + _macs(body)[0]


def unsign(token: str) -> str:
    """Return the value of ``token``; raise ``BadSignature`` or ``SignatureExpired``."""
    token = token.lower()
    body, mac = token[:-MAC_LENGTH], token[-MAC_LENGTH:]
    if not body or not any(constant_time_compare(mac, good) for good in _macs(body)):
        raise signing.BadSignature("The token's signature does not match.")
    kind, rest = body[0], body[1:]
    if kind in "23":
        expiry, rest = rest[:EXPIRY_LENGTH], rest[EXPIRY_LENGTH:]
        if len(expiry) < EXPIRY_LENGTH or int(expiry, 36) < time.time():
            raise signing.SignatureExpired("The token has expired.")
    if kind in "02":
        return rest
    if kind in "13":
        try:
            return base64.b32decode(rest.upper() + "=" * (-len(rest) % 8)).decode()
        except ValueError:
            raise signing.BadSignature("The token's payload is malformed.") from None
    raise signing.BadSignature("The token's kind is unknown.")


def _macs(body: str, salt: str = SALT, length: int = MAC_LENGTH) -> list[str]:
    """Return the MAC of ``body`` under ``SECRET_KEY`` and each fallback key.

    ``salt`` keeps other token kinds (VERP's) from being valid here and back;
    ``length`` is how many base32 characters of the MAC they keep.
    """
    keys = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    macs = []
    for key in keys:
        signature = signing.Signer(key=key, salt=salt, algorithm="sha256").signature(body)
        raw = signing.b64_decode(signature.encode())
        macs.append(base64.b32encode(raw).decode().lower()[:length])
    return macs


def _base36(number: int) -> str:
    digits = ""
    while number:
        number, digit = divmod(number, 36)
        digits = _DIGITS36[digit] + digits
    return digits.rjust(EXPIRY_LENGTH, "0")[-EXPIRY_LENGTH:]
