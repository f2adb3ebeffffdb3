"""The default mail middleware: loop protection and the auto-reply guard.

Mail middleware is written like Django's: a factory that takes
``get_response`` and returns a callable taking an ``EmailRequest``.
``MiddlewareMixin`` gives both of these sync and async support.
"""

from __future__ import annotations

import hashlib
import logging
import time
from typing import Any

from django.core.cache import caches
from django.core.mail import EmailMessage
from django.utils.deprecation import MiddlewareMixin

from mailserver.conf import settings as app_settings
from mailserver.exceptions import MailServerConfigurationError
from mailserver.response import EmailRejectResponse

logger = logging.getLogger("mailserver.middleware")


class LoopProtectionMiddleware(MiddlewareMixin):
    """Refuse mail that has passed too many hops: it is looping (RFC 5321 section 6.3)."""

    def process_request(self, request: Any) -> EmailRejectResponse | None:
        hops = len(request.headers.get_all("Received"))
        if hops > app_settings.MAX_RECEIVED_HEADERS:
            logger.warning(
                "Refused mail for %s after %d Received headers (a mail loop).",
                request.recipient,
                hops,
            )
            return EmailRejectResponse("Too many hops, mail loop detected", 554, "5.4.6")
        return None


class AutoReplyGuardMiddleware(MiddlewareMixin):
    """Never answer a bounce or an automatic message (RFC 3834 section 2), and answer
    one sender at most ``MAILSERVER_AUTOREPLY_RATE_LIMIT`` times (RFC 3834 section 2:
    "an automatic responder should not respond more than once per period").

    The rate limit stops loops with responders that do not mark their mail, and keeps
    forged senders from turning us into an amplifier. It counts replies that go back
    to the sender, in the ``MAILSERVER_AUTOREPLY_CACHE`` cache; with ``readmail`` (a
    process per message) that must be a shared cache, not the local-memory one.
    The view still runs, so it can record the message; only its reply is dropped.
    """

    def process_response(self, request: Any, response: Any) -> Any:
        if not isinstance(response, EmailMessage):
            return response
        sender = request.envelope_from or request.from_email
        if request.is_bounce or request.is_auto_submitted:
            reason = "the message is a bounce or automatic"
        elif self.over_rate_limit(sender, response):
            reason = "the sender reached MAILSERVER_AUTOREPLY_RATE_LIMIT"
        else:
            return response
        logger.info("Dropped the reply to %s for %s: %s.", sender, request.recipient, reason)
        return None

    def over_rate_limit(self, sender: str | None, response: EmailMessage) -> bool:
        """Count a reply to ``sender``; return whether it is one too many."""
        limit = app_settings.AUTOREPLY_RATE_LIMIT
        sender = (sender or "").lower()
        if not limit or not sender or sender not in {a.lower() for a in response.recipients()}:
            return False
        count, period = parse_count_rate(limit)
        window = int(time.time() // period)
        digest = hashlib.sha256(sender.encode("utf-8", "surrogatepass")).hexdigest()[:32]
        key = f"mailserver:autoreply:{digest}:{window}"
        cache = caches[app_settings.AUTOREPLY_CACHE]
        cache.add(key, 0, timeout=period)
        try:
            sent = cache.incr(key)
        except ValueError:  # expired between add() and incr()
            cache.set(key, sent := 1, timeout=period)
        return sent > count


def parse_count_rate(text: str) -> tuple[int, int]:
    """Parse ``"5/h"`` or ``"10/2d"`` into ``(count, period in seconds)``."""
    from mailserver.outbound.throttle import RATE_RE, UNITS

    match = RATE_RE.match(str(text))
    if not match or "." in match[1]:
        raise MailServerConfigurationError(
            f"Cannot read MAILSERVER_AUTOREPLY_RATE_LIMIT {text!r}: write it as COUNT/UNIT, "
            "such as '5/h' or '20/d' (units s, m, h, d), or None to turn it off."
        )
    count, multiple, unit = match.groups()
    return int(count), int(multiple or 1) * UNITS[unit]
