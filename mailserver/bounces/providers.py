"""Bounces and complaints reported by email service providers' webhooks.

When django-anymail is installed, its ``tracking`` signal is connected:
``bounced`` and ``rejected`` are hard bounces, ``deferred`` soft ones,
``complained`` a complaint and ``unsubscribed`` an unsubscribe. When django-ses
is installed, its ``bounce_received`` and ``complaint_received`` signals are
connected the same way. Each records a ``Bounce`` and applies the same policy
as a DSN. Providers authenticate their webhooks (Anymail's ``WEBHOOK_SECRET``,
SES's signed SNS messages), so their word is taken for recipients we have no
queue row for: the site may send through the provider directly.
"""

from __future__ import annotations

import importlib.util

ANYMAIL_KINDS = {
    "bounced": "hard",
    "rejected": "hard",
    "deferred": "soft",
    "complained": "complaint",
    "unsubscribed": "unsubscribe",
}


def connect() -> None:
    """Connect the receivers of whichever provider packages are installed."""
    if importlib.util.find_spec("anymail") is not None:
        from anymail.signals import tracking

        tracking.connect(anymail_tracking, dispatch_uid="mailserver.bounces.anymail")
    if importlib.util.find_spec("django_ses") is not None:
        from django_ses import signals as ses

        ses.bounce_received.connect(ses_bounce, dispatch_uid="mailserver.bounces.ses_bounce")
        ses.complaint_received.connect(
            ses_complaint, dispatch_uid="mailserver.bounces.ses_complaint"
        )


def _record(address: str, kind: str, status: str, diagnostic: str, source: str, report=None):
    from mailserver.bounces.record import find_recipient, record_bounce

    if not address:
        return None
    return record_bounce(
        address,
        kind,
        status=status,
        diagnostic=diagnostic,
        source=source,
        recipient=find_recipient(address),
        report=report,
    )


def anymail_tracking(sender, event, esp_name: str = "", **kwargs) -> None:
    kind = ANYMAIL_KINDS.get(event.event_type)
    if kind is None:
        return
    diagnostic = event.mta_response or event.description or event.reject_reason or ""
    _record(event.recipient or "", kind, "", diagnostic, f"anymail:{esp_name}"[:64], event)


def ses_bounce(sender, mail_obj=None, bounce_obj=None, raw_message=None, **kwargs) -> None:
    bounce_obj = bounce_obj or {}
    kind = "hard" if bounce_obj.get("bounceType") == "Permanent" else "soft"
    for recipient in bounce_obj.get("bouncedRecipients", []):
        _record(
            recipient.get("emailAddress", ""),
            kind,
            recipient.get("status", ""),
            recipient.get("diagnosticCode", ""),
            "ses",
            bounce_obj,
        )


def ses_complaint(sender, mail_obj=None, complaint_obj=None, raw_message=None, **kwargs) -> None:
    complaint_obj = complaint_obj or {}
    for recipient in complaint_obj.get("complainedRecipients", []):
        _record(
            recipient.get("emailAddress", ""),
            "complaint",
            "",
            complaint_obj.get("complaintFeedbackType", ""),
            "ses",
            complaint_obj,
        )
