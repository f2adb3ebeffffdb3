"""System checks for ``MAILSERVER_MAILBOXES``: ``mailserver.E050``, ``E051`` and ``W050``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.checks import CheckMessage, Error, Warning
from django.core.exceptions import ImproperlyConfigured

from mailserver.conf import settings as app_settings
from mailserver.ingress.mailboxes.config import is_loopback, parse_mailbox

EXAMPLE = "{'support': {'URL': 'imaps://support@imap.example.com/INBOX', 'PASSWORD_ENV': '...'}}"


def check_mailboxes(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Report mailboxes ``fetchmail`` could not use, and passwords sent in clear."""
    mailboxes = app_settings.MAILBOXES
    if not mailboxes:
        return []
    if not isinstance(mailboxes, Mapping):
        return [
            Error(
                "MAILSERVER_MAILBOXES must be a dict of mailbox names to options.",
                hint=f"For example MAILSERVER_MAILBOXES = {EXAMPLE}.",
                id="mailserver.E050",
            )
        ]
    messages: list[CheckMessage] = []
    for name, options in mailboxes.items():
        try:
            # Without the environment: the fetcher's secrets need not be set here.
            config = parse_mailbox(name, options, environ=None)
        except ImproperlyConfigured as exc:
            messages.append(
                Error(
                    str(exc),
                    hint="See 'Receiving mail without running an MTA' in the docs for "
                    "every key a mailbox takes.",
                    obj=f"MAILSERVER_MAILBOXES[{name!r}]",
                    id="mailserver.E051",
                )
            )
            continue
        in_clear = config.protocol in ("imap", "pop3") and not config.uses_tls
        if in_clear and not is_loopback(config.host):
            messages.append(
                Warning(
                    f"Mailbox {name!r} sends its password unencrypted to {config.host}.",
                    hint=f"Use an {config.protocol}s:// URL, or 'STARTTLS': True.",
                    obj=f"MAILSERVER_MAILBOXES[{name!r}]",
                    id="mailserver.W050",
                )
            )
    return messages
