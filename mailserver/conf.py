"""Read mailserver's settings in one place.

Every setting is looked up through :data:`settings`, never at import time, so
``override_settings`` works in tests: the cache is cleared on ``setting_changed``.
"""

from __future__ import annotations

import socket
from datetime import timedelta
from functools import cache
from typing import Any

from django.conf import settings as django_settings
from django.core.signals import setting_changed
from django.dispatch import receiver

PREFIX = "MAILSERVER_"

#: Settings that keep their own, unprefixed name.
UNPREFIXED = {"ROOT_MAILCONF", "MAILER_DAEMON_ADDRESS"}

DEFAULTS: dict[str, Any] = {
    "ROOT_MAILCONF": None,
    "MAILER_DAEMON_ADDRESS": None,  # "MAILER-DAEMON@" + hostname, computed lazily
    "MIDDLEWARE": [
        "mailserver.middleware.LoopProtectionMiddleware",
        "mailserver.middleware.AutoReplyGuardMiddleware",
    ],
    "SUBADDRESS_SEPARATOR": "+",
    "CASE_SENSITIVE_LOCALPART": False,
    "STORE_INBOUND": True,
    "INBOUND_RETENTION": timedelta(days=30),
    "MAX_MESSAGE_SIZE": 25 * 1024 * 1024,
    "MAX_MIME_PARTS": 1000,  # more, and a message's body is not parsed (a MIME bomb)
    # runmailserver (ingress/server.py). RFC 5321 section 4.5.3.1.8: accept at least 100
    # recipients; section 4.5.3.2.7: a server waits at least 5 minutes for a command.
    "SMTP_MAX_SESSIONS": 200,
    "SMTP_MAX_RECIPIENTS": 100,
    "SMTP_MAX_COMMANDS": 10000,  # per command verb per session (aiosmtpd's command_call_limit)
    "SMTP_MAX_ERRORS": 20,  # 5xx replies before a session is cut (Postfix: 20 too)
    "SMTP_IDLE_TIMEOUT": 300,
    "SMTP_MAX_LINE_LENGTH": 1001,  # RFC 5321 section 4.5.3.1.6: 998 octets + CRLF (+ a dot)
    "SMTP_WORKERS": 8,  # threads for sync views
    "SMTP_DRAIN_TIMEOUT": 30,  # seconds in-flight sessions get after SIGTERM
    # RFC 5321 section 6.3 suggests 100 hops as the point where a loop is assumed.
    "MAX_RECEIVED_HEADERS": 30,
    # RFC 3834 section 2: at most this many automatic replies to one sender per period.
    "AUTOREPLY_RATE_LIMIT": "5/h",
    "AUTOREPLY_CACHE": "default",  # must be shared between processes with readmail
    "DELIVERY_BACKEND": "mailserver.backends.smtp.DeliveryBackend",
    "RATE_LIMIT": None,
    "DOMAIN_RATE_LIMITS": {},
    "MAX_QUEUE_SIZE": None,
    "MAX_AGE": timedelta(days=5),
    "RETRY_BACKOFF": (timedelta(minutes=5), timedelta(hours=4)),
    "VERP": None,
    "SOFT_BOUNCE_LIMIT": (3, timedelta(days=7)),
    "BOUNCE_POLICY": None,  # dotted path of a callable(bounce) -> suppression reason or None
    "SUPPRESS_SUBADDRESSES": False,  # suppressing jo@x also stops jo+tag@x
    "SUPPRESS_UNKNOWN_COMPLAINTS": False,  # complaints about mail we never sent suppress
    "UNSUBSCRIBE_ADDRESS": None,  # "unsubscribe+{token}@example.com": List-Unsubscribe mailto
    "UNSUBSCRIBE_URL": None,  # "https://example.com/mail/unsubscribe/{token}/": RFC 8058
    "SMTP_TRANSCRIPT": False,  # outbound: keep the SMTP conversation in DeliveryAttempt
    "BATCH_SIZE": 100,  # outbound: messages claimed (and sent over one connection) at once
    "LEASE_TIME": timedelta(minutes=5),  # outbound: after this a dead worker's batch is retaken
    "POLL_INTERVAL": 1.0,  # outbound: seconds an idle worker sleeps without LISTEN/NOTIFY
    "PRIORITY_AGING": timedelta(minutes=10),  # outbound: wait after which low mail gets a share
    "POISON_LIMIT": 5,  # outbound: unexpected errors before a message is quarantined
    "THROTTLE_BACKOFF": timedelta(minutes=1),  # outbound: pause after a 421 or 4.7.x
    "USE_TASKS": False,  # outbound: drain through django.tasks (Django 6.0+)
    "MAILBOXES": {},  # fetchmail: name -> {"URL": "imaps://...", ...}
}


def setting_name(name: str) -> str:
    """Return the Django setting that holds mailserver's ``name``."""
    return name if name in UNPREFIXED else PREFIX + name


class Settings:
    """Attribute access to mailserver's settings with their defaults.

    ``settings.MAX_MESSAGE_SIZE`` reads ``MAILSERVER_MAX_MESSAGE_SIZE``, falling
    back to :data:`DEFAULTS`. Every setting has its default there, so a misspelt
    name fails loudly instead of reading as ``None``.
    """

    def __getattr__(self, name: str) -> Any:
        if name not in DEFAULTS:
            raise AttributeError(f"mailserver has no setting {setting_name(name)}.")
        return _get(name)


@cache
def _get(name: str) -> Any:
    value = getattr(django_settings, setting_name(name), DEFAULTS[name])
    if name == "MAILER_DAEMON_ADDRESS" and not value:
        value = "MAILER-DAEMON@" + socket.getfqdn()
    return value


settings = Settings()


@receiver(setting_changed)
def _clear_cache(*, setting: str, **kwargs: Any) -> None:
    if setting in UNPREFIXED or setting.startswith(PREFIX):
        _get.cache_clear()
