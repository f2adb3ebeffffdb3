"""The help desk's outgoing mail: staff replies, the staff digest, announcements.

Everything goes through mailserver's outbound queue; the queue worker
(``manage.py runmailqueue``, or ``sendmailqueue`` from cron) delivers it.
"""

from __future__ import annotations

import os
from email.utils import make_msgid

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.mail import EmailMessage
from django.utils import timezone
from django.utils.text import get_valid_filename

from helpdesk.models import Announcement, Attachment, Customer, Message, Ticket
from mailserver.outbound import enqueue, enqueue_many, queue_digest

#: The digest key: ``manage.py senddigests tickets`` sends it (weekly, from cron).
DIGEST_KEY = "tickets"


def helpdesk_address() -> str:
    return settings.DEFAULT_FROM_EMAIL


def record_message(ticket: Ticket, request) -> Message:
    """Store an inbound mail (and its attachments) as a message of ``ticket``."""
    message = Message.objects.create(
        ticket=ticket,
        author=request.from_email or request.envelope_from or "",
        body=request.text,
        message_id=request.message_id,
    )
    for attachment in request.attachments:
        Attachment.objects.create(
            message=message,
            filename=attachment.filename or "attachment",
            content_type=attachment.content_type,
            size=attachment.size,
            file=ContentFile(attachment.content, name=_safe_name(attachment.filename)),
        )
    return message


def _safe_name(filename: str) -> str:
    # The name comes from a stranger's mail: keep only a harmless last component.
    try:
        return get_valid_filename(os.path.basename(filename or "")) or "attachment"
    except Exception:
        return "attachment"


def send_staff_reply(ticket: Ticket, body: str, author: str):
    """Queue a staff answer to the customer, threaded under the ticket's mails."""
    thread = [m.message_id for m in ticket.messages.exclude(message_id="")]
    customer_mails = ticket.messages.filter(from_staff=False).exclude(message_id="")
    last = customer_mails.last()
    message_id = make_msgid(domain=helpdesk_address().rpartition("@")[2])
    headers = {"Message-ID": message_id}
    if thread:
        headers["In-Reply-To"] = last.message_id if last else thread[-1]
        headers["References"] = " ".join(thread)
    Message.objects.create(
        ticket=ticket, from_staff=True, author=author, body=body, message_id=message_id
    )
    email = EmailMessage(
        subject=f"Re: [#{ticket.pk}] {ticket.subject}",
        body=body,
        from_email=helpdesk_address(),
        to=[ticket.customer.email],
        reply_to=[ticket.reply_address],
        headers=headers,
    )
    return enqueue(email, priority="high")


def staff_addresses() -> list[str]:
    users = get_user_model().objects.filter(is_staff=True, is_active=True).exclude(email="")
    return sorted(set(users.values_list("email", flat=True)))


def queue_for_digest(ticket: Ticket) -> None:
    """Add a new ticket to every staff member's next weekly digest."""
    item = {
        "id": ticket.pk,
        "subject": ticket.subject,
        "customer": ticket.customer.email,
        "url": getattr(settings, "HELPDESK_SITE_URL", "") + ticket.get_absolute_url(),
    }
    for address in staff_addresses():
        queue_digest(address, DIGEST_KEY, item)


def queue_announcement(announcement: Announcement) -> int:
    """Queue ``announcement`` for every subscribed customer; return how many.

    Low priority, so ticket replies overtake it, scheduled for ``send_at``, and
    with ``List-Unsubscribe`` (RFC 2369) pointing at a signed mailto: address.
    Customers on the suppression list (they bounced) are recorded as
    ``suppressed`` by the queue, not sent to.
    """
    messages = []
    for customer in Customer.objects.filter(unsubscribed_at__isnull=True).order_by("pk"):
        messages.append(
            EmailMessage(
                subject=announcement.subject,
                body=announcement.body,
                from_email=helpdesk_address(),
                to=[customer.email],
                headers={
                    "List-Unsubscribe": f"<mailto:{customer.unsubscribe_address}>",
                    "Precedence": "bulk",
                },
            )
        )
    enqueue_many(messages, priority="low", send_at=announcement.send_at)
    announcement.queued_at = timezone.now()
    announcement.recipients = len(messages)
    announcement.save(update_fields=["queued_at", "recipients"])
    return len(messages)


def unsubscribe(customer: Customer) -> None:
    """Stop announcements to ``customer``; answers to their tickets still reach them."""
    if customer.unsubscribed_at is None:
        customer.unsubscribed_at = timezone.now()
        customer.save(update_fields=["unsubscribed_at"])
