"""SMTP reply codes and enhanced status codes, and what they say about permanence."""

import re

# RFC 3463 section 2: class.subject.detail, class 2 (success), 4 (persistent
# transient failure) or 5 (permanent failure); subject and detail 1-3 digits.
# The lookarounds keep IP addresses and version numbers out.
ENHANCED_STATUS_RE = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?!\.?\d)")

# RFC 5321 section 4.2: a three-digit reply code, followed by a space or
# "-" (multi-line reply) or the end of the line.  Times (10:45) and numbers
# inside words or paths are excluded by the lookbehind.
SMTP_CODE_RE = re.compile(r"(?<![\w.:/\-])([245][0-5]\d)(?=[ \t\-]|$)", re.MULTILINE)

PERMANENT = "5"
TRANSIENT = "4"


def status_code(text: str) -> str:
    """Return the first enhanced status code in text, of any class, or ""."""
    match = ENHANCED_STATUS_RE.search(text)
    return match[0] if match else ""


def enhanced_status(text: str) -> str:
    """Return the first failure enhanced status code in text ("5.1.1"), or ""."""
    for match in ENHANCED_STATUS_RE.finditer(text):
        if match[1] != "2":
            return match[0]
    return ""


def smtp_code(text: str) -> str:
    """Return the first failure SMTP reply code in text ("550"), or ""."""
    for match in SMTP_CODE_RE.finditer(text):
        if match[1][0] != "2":
            return match[1]
    return ""


def failure_class(text: str) -> str:
    """Return "5" (permanent), "4" (transient) or "" from the codes in text.

    The enhanced status code wins over the basic reply code: it is the more
    precise of the two (RFC 3463 section 1).
    """
    code = enhanced_status(text) or smtp_code(text)
    return code[:1]
