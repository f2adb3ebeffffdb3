"""Look at the outbound queue in tests, as ``django.core.mail.outbox`` shows sent mail.

Replies of mail views (and, with ``QueuedEmailBackend``, every ``send_mail()``)
are queued, not sent, so a test inspects the queue.
"""

from __future__ import annotations

from django.core.mail import EmailMultiAlternatives


def queued_mail(**filters) -> list[EmailMultiAlternatives]:
    """Return the queued messages, oldest first, as Django ``EmailMessage`` objects.

    Each is built from the stored bytes (``.to``, ``.cc``, ``.subject``,
    ``.body``, ``.extra_headers``, ``.message()``); its ``.outbound`` is the
    ``OutboundMessage`` row. ``filters`` narrow the rows, such as
    ``status="queued"``.
    """
    from mailserver.models import OutboundMessage
    from mailserver.outbound.delivery import RawEmailMessage

    found = []
    rows = OutboundMessage.objects.filter(**filters).prefetch_related("recipients")
    for row in rows.order_by("created_at", "pk"):
        message = RawEmailMessage(
            bytes(row.raw), row.from_email, [r.address for r in row.recipients.all()]
        )
        message.outbound = row
        found.append(message)
    return found
