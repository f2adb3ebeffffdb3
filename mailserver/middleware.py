"""The default mail middleware: loop protection and the auto-reply guard.

Mail middleware is written like Django's: a factory that takes
``get_response`` and returns a callable taking an ``EmailRequest``.
``MiddlewareMixin`` gives both of these sync and async support.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.mail import EmailMessage
from django.utils.deprecation import MiddlewareMixin

from mailserver.conf import settings as app_settings
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
    """Never answer a bounce or an automatic message (RFC 3834 section 2).

    The view still runs, so it can record the message; only its reply is dropped.
    """

    def process_response(self, request: Any, response: Any) -> Any:
        if isinstance(response, EmailMessage) and (request.is_bounce or request.is_auto_submitted):
            logger.info(
                "Dropped the reply to %s for %s: the message is a bounce or automatic.",
                request.envelope_from or request.from_email,
                request.recipient,
            )
            return None
        return response
