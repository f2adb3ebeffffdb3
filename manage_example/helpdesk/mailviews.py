"""Mail views of the help desk: open a ticket, add a reply to one, unsubscribe."""

from __future__ import annotations

from django.db import transaction

from helpdesk import mail
from helpdesk.models import TICKET, UNSUBSCRIBE, Customer, Ticket, read_token
from mailserver.response import EmailRejectResponse


@transaction.atomic
def new_ticket(request):
    """Open a ticket for mail to help@ and tell the sender its number and reply address."""
    # A bare mail may lack From; the envelope sender still says who wrote.
    sender = (request.from_email or request.envelope_from or "").lower()
    if not sender:
        return EmailRejectResponse("Tell us who you are: the message has no sender", 550, "5.7.1")
    customer, _ = Customer.objects.get_or_create(
        email=sender, defaults={"name": request.from_name}
    )
    ticket = Ticket.objects.create(customer=customer, subject=request.subject or "(no subject)")
    mail.record_message(ticket, request)
    mail.queue_for_digest(ticket)
    return request.reply(
        f"Hello,\n\nWe opened ticket #{ticket.pk} for your message. Reply to this mail "
        "to add to it; we will answer soon.\n\n-- The help desk",
        subject=f"[#{ticket.pk}] {request.subject}",
        reply_to=[ticket.reply_address],
    )


@transaction.atomic
def ticket_reply(request, token):
    """Add a mail sent to a ticket's signed address to that ticket, and reopen it.

    Routing has already checked the signature: a forged or altered address
    never reaches this view (550 5.1.1 at RCPT time).
    """
    ticket = Ticket.objects.filter(pk=read_token(TICKET, token)).first()
    if ticket is None:
        return EmailRejectResponse("No such ticket", 550, "5.1.1")
    mail.record_message(ticket, request)
    if ticket.status != Ticket.Status.OPEN:
        ticket.status = Ticket.Status.OPEN
        ticket.save(update_fields=["status"])
    return None


def unsubscribe(request, token):
    """Take a customer off announcements (the mailto: of List-Unsubscribe)."""
    customer = Customer.objects.filter(pk=read_token(UNSUBSCRIBE, token)).first()
    if customer is None:
        return EmailRejectResponse("No such subscriber", 550, "5.1.1")
    mail.unsubscribe(customer)
    return None
