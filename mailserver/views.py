"""Built-in views: ``bounce`` (a mail view) and ``unsubscribe`` (mail and web).

Route the VERP address to the bounce view in your mailconf::

    route("bounces@example.com", "mailserver.views.bounce")

(``bounces+<token>@example.com`` reaches it as a subaddress.)
"""

from __future__ import annotations

import logging

from django.http import (
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseNotAllowed,
)
from django.utils.html import escape
from django.views.decorators.csrf import csrf_exempt

from mailserver.bounces import parse_bounce, verp
from mailserver.bounces.record import find_recipient, record_bounce
from mailserver.bounces.report import AUTOREPLY, COMPLAINT, DELAYED

logger = logging.getLogger("mailserver.bounces")


def bounce(request, token: str | None = None, **kwargs):
    """Record what a bounce or complaint says; always accept it (returns ``None``)."""
    token = token or verp.token_from_address(request.recipient or "")
    report = parse_bounce(request.raw)
    if report is not None and report.kind == AUTOREPLY:
        # An out-of-office says nothing about whether the address works.
        return None
    inbound = getattr(request, "inbound", None)
    if inbound is not None and not getattr(inbound, "pk", None):
        inbound = None
    if token:
        _bounce_with_token(token, report, inbound)
    elif report is not None:
        _bounce_from_report(report, inbound)
    return None


def _kind(report, permanent: bool) -> str:
    from mailserver.models import Bounce

    if report is not None and report.kind == COMPLAINT:
        return Bounce.Kind.COMPLAINT
    return Bounce.Kind.HARD if permanent else Bounce.Kind.SOFT


def _bounce_with_token(token: str, report, inbound) -> None:
    from mailserver.models import OutboundRecipient

    ids = verp.read_token(token)
    if ids is None:
        # Anyone can send mail to bounces+anything@: never trust it.
        logger.warning("Ignored a bounce with a forged or damaged VERP token %r.", token)
        return
    message_id, recipient_id = ids
    recipient = OutboundRecipient.objects.filter(pk=recipient_id, message_id=message_id).first()
    if recipient is None:
        logger.warning("Ignored a bounce for outbound recipient %s, which is gone.", recipient_id)
        return
    said = None
    if report is not None:
        said = next(
            (r for r in report.recipients if r.address.lower() == recipient.address.lower()),
            report.recipients[0] if len(report.recipients) == 1 else None,
        )
    if said is not None and said.action == DELAYED:
        return  # "still trying" is not a bounce
    record_bounce(
        recipient.address,
        _kind(report, bool(said and said.permanent)),
        status=said.status if said else "",
        diagnostic=said.diagnostic if said else "",
        source="verp",
        inbound=inbound,
        recipient=recipient,
        report=report,
    )


def _bounce_from_report(report, inbound) -> None:
    from mailserver.conf import settings as app_settings

    for said in report.recipients:
        if said.action == DELAYED:
            continue
        recipient = find_recipient(said.address, report.original_message_id)
        unknown_ok = report.kind == COMPLAINT and app_settings.SUPPRESS_UNKNOWN_COMPLAINTS
        if recipient is None and not unknown_ok:
            # A bounce for someone we never mailed is backscatter or a forgery.
            logger.info("Ignored a %s for %s, never mailed.", report.kind, said.address)
            continue
        record_bounce(
            said.address,
            _kind(report, said.permanent),
            status=said.status,
            diagnostic=said.diagnostic,
            source="arf" if report.kind == COMPLAINT else "dsn",
            inbound=inbound,
            recipient=recipient,
            report=report,
        )


def unsubscribe(request, address: str | None = None, token: str | None = None, **kwargs):
    """Unsubscribe the address a List-Unsubscribe ``mailto:`` names; always accept.

    Route it with the token as a subaddress, matching
    ``MAILSERVER_UNSUBSCRIBE_ADDRESS = "unsubscribe+{token}@example.com"``::

        route("unsubscribe@example.com", "mailserver.views.unsubscribe")

    or verify the token in the route: ``route("unsubscribe+<signed:address>@example.com",
    "mailserver.views.unsubscribe")``.
    """
    from mailserver.bounces import unsubscribe as lists

    if address is None:
        token = token or request.subaddress or _token_in(request.recipient or "")
        address = lists.read_token(token or "")
    if address is None or "@" not in address:
        logger.warning("Ignored an unsubscribe request with a forged or damaged token.")
        return None
    lists.unsubscribe(address, source="list-unsubscribe mailto")
    return None


def _token_in(recipient: str) -> str | None:
    from mailserver.conf import settings as app_settings

    template = app_settings.UNSUBSCRIBE_ADDRESS
    if not template:
        return None
    before, _, after = template.partition("{token}")
    local = recipient.strip("<>")
    if local.lower().startswith(before.lower()) and local.lower().endswith(after.lower()):
        return local[len(before) : len(local) - len(after)]
    return None


@csrf_exempt
def unsubscribe_web(http_request, token: str):
    """The HTTPS List-Unsubscribe URI: GET asks, POST (RFC 8058 one-click) unsubscribes.

    GET never unsubscribes: link scanners and previews follow links.
    """
    from mailserver.bounces import unsubscribe as lists

    address = lists.read_token(token)
    if address is None:
        return HttpResponseBadRequest("This unsubscribe link is not valid.")
    if http_request.method == "POST":
        lists.unsubscribe(address, source="list-unsubscribe one-click")
        return HttpResponse(f"{escape(address)} is unsubscribed.")
    if http_request.method != "GET":
        return HttpResponseNotAllowed(["GET", "POST"])
    return HttpResponse(
        f"<!doctype html><title>Unsubscribe</title>"
        f'<form method="post"><p>Stop sending mail to {escape(address)}?</p>'
        f'<input type="hidden" name="List-Unsubscribe" value="One-Click">'
        f'<button type="submit">Unsubscribe</button></form>'
    )
