"""Validate, normalise and split RFC 5321 mailbox addresses.

Routing, suppression and the transports all compare addresses, so they must
agree on one form: no angle brackets, an unquoted local part where quoting is
not needed, and a lower-cased, IDNA-encoded domain. The local part keeps its
case; whether case matters there is routing's decision.
"""

from __future__ import annotations

import ipaddress
import re

from mailserver.exceptions import InvalidAddress

# RFC 5321 section 4.5.3.1.1 and 4.5.3.1.2.
MAX_LOCAL_PART_OCTETS = 64
MAX_DOMAIN_OCTETS = 255
# RFC 5321 section 4.5.3.1.3: a path is at most 256 octets including "<" and ">".
MAX_ADDRESS_OCTETS = 254

# RFC 5322 atext, widened by RFC 6531 to any non-ASCII character (SMTPUTF8).
_ATEXT = r"A-Za-z0-9!#$%&'*+\-/=?^_`{|}~\u0080-\U0010ffff"
_DOT_ATOM_RE = re.compile(rf"[{_ATEXT}]+(?:\.[{_ATEXT}]+)*")
# RFC 5321 qtextSMTP and quoted-pairSMTP (backslash then any printable ASCII).
_QUOTED_RE = re.compile(r'"((?:[\x20\x21\x23-\x5b\x5d-\x7e\u0080-\U0010ffff]|\\[\x20-\x7e])*)"')
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_DOMAIN_RE = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")


def normalize_address(address: str) -> str:
    """Return ``address`` in the one form used for comparing and routing.

    Raise :class:`~mailserver.exceptions.InvalidAddress` if it is not a usable
    mailbox.
    """
    local, domain = split_address(address)
    return f"{local}@{domain}"


def split_address(address: str) -> tuple[str, str]:
    """Validate ``address`` and return its normalised ``(local, domain)``."""
    if not isinstance(address, str):
        raise InvalidAddress(f"An address must be a string, not {type(address).__name__}.")
    text = address.strip()
    if text.startswith("<") and text.endswith(">"):
        text = text[1:-1].strip()
    if not text:
        raise InvalidAddress("The address is empty.")
    if text.startswith("@"):
        if ":" in text:
            # RFC 5321 section 4.1.1.3 and appendix C: source routes are obsolete.
            raise InvalidAddress(f"Source routes are not accepted: {address!r}.")
        raise InvalidAddress(f"The address {address!r} has no local part.")
    local, domain = _split(text, address)
    local = normalize_local_part(local)
    domain = normalize_domain(domain)
    if len(local.encode()) + 1 + len(domain) > MAX_ADDRESS_OCTETS:
        raise InvalidAddress(
            f"The address {address!r} is longer than {MAX_ADDRESS_OCTETS} octets."
        )
    return local, domain


def split_subaddress(local: str, separator: str | None) -> tuple[str, str | None]:
    """Split ``user+tag`` into ``("user", "tag")``; ``(local, None)`` without a tag.

    Only the first separator counts, as in Postfix's ``recipient_delimiter``; a
    local part that starts with the separator or is quoted has no tag.
    """
    if not separator or local.startswith('"'):
        return local, None
    base, found, tag = local.partition(separator)
    if not found or not base:
        return local, None
    return base, tag


def normalize_domain(domain: str) -> str:
    """Lower-case and IDNA-encode ``domain``, or raise ``InvalidAddress``."""
    if domain.startswith("[") and domain.endswith("]"):
        return _normalize_literal(domain)
    name = domain.rstrip(".") if domain.endswith(".") and not domain.endswith("..") else domain
    if not name.isascii():
        try:
            name = name.encode("idna").decode("ascii")
        except UnicodeError:
            raise InvalidAddress(f"The domain {domain!r} is not a valid IDNA name.") from None
    name = name.lower()
    if len(name) > MAX_DOMAIN_OCTETS or not _DOMAIN_RE.fullmatch(name):
        raise InvalidAddress(f"The domain {domain!r} is not a valid host name.")
    return name


def _split(text: str, address: str) -> tuple[str, str]:
    if text.startswith('"'):
        quoted = _QUOTED_RE.match(text)
        if not quoted or text[quoted.end() : quoted.end() + 1] != "@":
            raise InvalidAddress(f"The quoted local part of {address!r} is malformed.")
        return text[: quoted.end()], text[quoted.end() + 1 :]
    local, at, domain = text.rpartition("@")
    if not at:
        raise InvalidAddress(f"The address {address!r} has no @domain.")
    if not domain:
        raise InvalidAddress(f"The address {address!r} has no domain.")
    return local, domain


def normalize_local_part(local: str) -> str:
    """Unquote ``local`` where quoting is not needed, or raise ``InvalidAddress``."""
    if local.startswith('"'):
        content = re.sub(r"\\(.)", r"\1", local[1:-1])
        if not content:
            raise InvalidAddress("The local part is empty.")
        # RFC 5321 section 4.1.2: do not quote what needs no quoting.
        if _DOT_ATOM_RE.fullmatch(content) and content.isprintable():
            local = content
        else:
            local = '"' + re.sub(r'(["\\])', r"\\\1", content) + '"'
    elif not (_DOT_ATOM_RE.fullmatch(local) and local.isprintable()):
        raise InvalidAddress(f"The local part {local!r} has characters that need quoting.")
    if len(local.encode()) > MAX_LOCAL_PART_OCTETS:
        raise InvalidAddress(
            f"The local part {local!r} is longer than {MAX_LOCAL_PART_OCTETS} octets."
        )
    return local


def _normalize_literal(domain: str) -> str:
    """Normalise an RFC 5321 address literal: ``[192.0.2.1]`` or ``[IPv6:2001:db8::1]``."""
    inner = domain[1:-1]
    try:
        if inner[:5].lower() == "ipv6:":
            return f"[IPv6:{ipaddress.IPv6Address(inner[5:]).compressed}]"
        return f"[{ipaddress.IPv4Address(inner)}]"
    except ValueError:
        raise InvalidAddress(f"The address literal {domain!r} is not an IP address.") from None
