"""Read ``MAILSERVER_MAILBOXES``: one dict per mailbox, keyed by the name ``fetchmail`` takes.

::

    MAILSERVER_MAILBOXES = {
        "support": {
            "URL": "imaps://support%40example.com@imap.example.com/INBOX",
            "PASSWORD_ENV": "SUPPORT_IMAP_PASSWORD",
            "ACTION": "move",
            "MOVE_TO": "Archive",
        },
    }

The same parsing serves the system check and the command, so a setting that
passes ``manage.py check`` is one ``fetchmail`` can use.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from mailserver.conf import settings as app_settings
from mailserver.exceptions import MailServerConfigurationError

#: Default ports; RFC 3501 (IMAP, 143), RFC 8314 section 7 (implicit TLS: 993, 995),
#: RFC 1939 (POP3, 110).
PORTS = {"imap": 143, "imaps": 993, "pop3": 110, "pop3s": 995}
SCHEMES = (*PORTS, "maildir", "mbox")

DELETE, MOVE, KEEP = "delete", "move", "keep"
ACTIONS = (DELETE, MOVE, KEEP)

#: RFC 2177: a server may log an idle client out after 30 minutes, so IDLE is
#: re-issued well before that.
IDLE_INTERVAL = 25 * 60
POLL_INTERVAL = 60
TIMEOUT = 60
#: Seconds to wait before reconnecting: doubled after each failure, up to the second value.
RECONNECT_DELAY = (1, 300)
#: The headers a final delivery agent writes the envelope recipient into, most useful first:
#: X-Original-To keeps the address before alias expansion (a catch-all's ``ticket-5@``).
RECIPIENT_HEADERS = ("X-Original-To", "Delivered-To")

KNOWN_KEYS = {
    "URL", "USER", "PASSWORD", "USER_ENV", "PASSWORD_ENV", "ACTION", "MOVE_TO",
    "UNSEEN_ONLY", "RECIPIENT", "RECIPIENT_HEADERS", "CAFILE", "STARTTLS", "TIMEOUT",
    "IDLE_INTERVAL", "POLL_INTERVAL", "RECONNECT_DELAY",
}  # fmt: skip


@dataclass(frozen=True)
class MailboxConfig:
    """One entry of ``MAILSERVER_MAILBOXES``, checked and with its defaults filled in."""

    name: str
    scheme: str
    host: str = ""
    port: int = 0
    user: str = ""
    password: str = field(default="", repr=False)
    folder: str = "INBOX"  # IMAP folder
    path: str = ""  # Maildir directory or mbox file
    action: str = DELETE
    move_to: str = ""
    unseen_only: bool = False
    recipients: tuple[str, ...] = ()
    recipient_headers: tuple[str, ...] = RECIPIENT_HEADERS
    cafile: str | None = None
    starttls: bool = False
    timeout: float = TIMEOUT
    idle_interval: float = IDLE_INTERVAL
    poll_interval: float = POLL_INTERVAL
    reconnect_delay: tuple[float, float] = RECONNECT_DELAY

    @property
    def protocol(self) -> str:
        """``imap``, ``pop3``, ``maildir`` or ``mbox``: also the pipeline's transport name."""
        return self.scheme.removesuffix("s") if self.scheme in PORTS else self.scheme

    @property
    def uses_tls(self) -> bool:
        return self.scheme in ("imaps", "pop3s") or self.starttls

    @property
    def location(self) -> str:
        """Where the mailbox is, for messages: no password."""
        if self.path:
            return f"{self.scheme}://{self.path}"
        folder = f"/{self.folder}" if self.protocol == "imap" else ""
        return f"{self.scheme}://{self.user}@{self.host}:{self.port}{folder}"


def mailbox_names() -> list[str]:
    return list(app_settings.MAILBOXES or {})


def get_mailbox(name: str, *, environ: Mapping[str, str] | None = None) -> MailboxConfig:
    """Return the checked configuration of mailbox ``name``; read credentials from the env."""
    mailboxes = app_settings.MAILBOXES or {}
    if name not in mailboxes:
        known = ", ".join(sorted(mailboxes)) or "none"
        raise MailServerConfigurationError(
            f"No mailbox named {name!r} in MAILSERVER_MAILBOXES (configured: {known})."
        )
    return parse_mailbox(name, mailboxes[name], environ=os.environ if environ is None else environ)


def parse_mailbox(
    name: str, options: Any, *, environ: Mapping[str, str] | None = None
) -> MailboxConfig:
    """Turn one setting entry into a :class:`MailboxConfig`; raise on anything wrong.

    With ``environ=None`` the ``*_ENV`` variables are not read (the system check
    runs where the fetcher's secrets may not be set).
    """

    def fail(problem: str) -> MailServerConfigurationError:
        return MailServerConfigurationError(f"MAILSERVER_MAILBOXES[{name!r}]: {problem}")

    if not isinstance(options, Mapping):
        raise fail("must be a dict such as {'URL': 'imaps://user@imap.example.com/INBOX'}.")
    unknown = set(options) - KNOWN_KEYS
    if unknown:
        raise fail(
            f"unknown key(s) {', '.join(sorted(map(str, unknown)))}; "
            f"known keys are {', '.join(sorted(KNOWN_KEYS))}."
        )
    url = options.get("URL")
    if not isinstance(url, str) or not url:
        raise fail("'URL' is required, e.g. 'imaps://user@imap.example.com/INBOX'.")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise fail(f"the URL scheme {scheme!r} is not one of {', '.join(SCHEMES)}.")
    values: dict[str, Any] = {"name": name, "scheme": scheme}
    if scheme in PORTS:
        if not parts.hostname:
            raise fail(f"the URL {_redacted(url)!r} names no host.")
        try:
            port = parts.port
        except ValueError:
            raise fail(f"the URL {_redacted(url)!r} has an invalid port.") from None
        values.update(
            host=parts.hostname,
            port=port or PORTS[scheme],
            user=unquote(parts.username or ""),
            password=unquote(parts.password or ""),
            folder=unquote(parts.path.lstrip("/")) or "INBOX",
        )
    else:
        path = os.path.expanduser(unquote(parts.netloc + parts.path))
        if not path:
            raise fail(f"a {scheme} URL needs a path, e.g. '{scheme}:///var/mail/support'.")
        values["path"] = path
    values.update(_credentials(options, environ, fail))
    values.update(_options(options, scheme, fail))
    if scheme in PORTS and environ is not None and not (values["user"] and values["password"]):
        raise fail(
            "no user name or password: put them in the URL, in 'USER'/'PASSWORD', or name "
            "environment variables with 'USER_ENV'/'PASSWORD_ENV'."
        )
    return MailboxConfig(**values)


def _credentials(options: Mapping, environ: Mapping[str, str] | None, fail: Any) -> dict:
    values = {}
    for key, attribute in (("USER", "user"), ("PASSWORD", "password")):
        if key in options:
            if not isinstance(options[key], str):
                raise fail(f"'{key}' must be a string.")
            values[attribute] = options[key]
        variable = options.get(f"{key}_ENV")
        if variable is None:
            continue
        if not isinstance(variable, str) or not variable:
            raise fail(f"'{key}_ENV' must name an environment variable.")
        if environ is not None:
            if variable not in environ:
                raise fail(f"the environment variable {variable} ('{key}_ENV') is not set.")
            values[attribute] = environ[variable]
    return values


def _options(options: Mapping, scheme: str, fail: Any) -> dict:
    values: dict[str, Any] = {}
    action = options.get("ACTION", DELETE)
    if action not in ACTIONS:
        raise fail(f"'ACTION' must be one of {', '.join(map(repr, ACTIONS))}, not {action!r}.")
    values["action"] = action
    move_to = options.get("MOVE_TO", "")
    if action == MOVE:
        if not move_to or not isinstance(move_to, str):
            raise fail("'ACTION': 'move' needs 'MOVE_TO', the folder to move fetched mail to.")
        if scheme in ("pop3", "pop3s"):
            raise fail("POP3 has no folders: use 'ACTION': 'delete' or 'keep'.")
        values["move_to"] = move_to
    elif move_to:
        raise fail("'MOVE_TO' is only used with 'ACTION': 'move'.")
    for key in ("UNSEEN_ONLY", "STARTTLS"):
        if key in options and not isinstance(options[key], bool):
            raise fail(f"'{key}' must be True or False.")
    values["unseen_only"] = options.get("UNSEEN_ONLY", False)
    values["starttls"] = options.get("STARTTLS", False)
    if values["starttls"] and scheme not in ("imap", "pop3"):
        raise fail("'STARTTLS' applies to imap:// and pop3:// URLs only.")
    recipients = options.get("RECIPIENT", ())
    if isinstance(recipients, str):
        recipients = (recipients,)
    if not all(isinstance(r, str) and "@" in r for r in recipients):
        raise fail("'RECIPIENT' must be an address or a list of addresses.")
    values["recipients"] = tuple(recipients)
    headers = options.get("RECIPIENT_HEADERS", RECIPIENT_HEADERS)
    if isinstance(headers, str) or not all(isinstance(h, str) for h in headers):
        raise fail("'RECIPIENT_HEADERS' must be a list of header names.")
    values["recipient_headers"] = tuple(headers)
    cafile = options.get("CAFILE")
    if cafile is not None:
        if not isinstance(cafile, str) or scheme not in PORTS:
            raise fail("'CAFILE' must be the path of a PEM file, for imap/pop3 URLs.")
        values["cafile"] = cafile
    for key in ("TIMEOUT", "IDLE_INTERVAL", "POLL_INTERVAL"):
        if key in options:
            value = options[key]
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise fail(f"'{key}' must be a positive number of seconds.")
            values[key.lower()] = value
    if "RECONNECT_DELAY" in options:
        delay = options["RECONNECT_DELAY"]
        if (
            not isinstance(delay, list | tuple)
            or len(delay) != 2
            or not all(isinstance(d, int | float) and d > 0 for d in delay)
            or delay[0] > delay[1]
        ):
            raise fail("'RECONNECT_DELAY' must be (first, longest) in seconds, e.g. (1, 300).")
        values["reconnect_delay"] = tuple(delay)
    return values


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _redacted(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return url.replace(f":{parts.password}@", ":***@", 1)
