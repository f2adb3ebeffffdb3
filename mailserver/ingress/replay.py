"""Run stored inbound mail through the pipeline again (``manage.py retrymail``)."""

from __future__ import annotations

from mailserver.ingress import store
from mailserver.ingress.pipeline import handle_recipients
from mailserver.models.inbound import InboundMessage
from mailserver.request import EmailRequest
from mailserver.status import Outcome, Result


def retry(message: InboundMessage) -> list[Result]:
    """Handle ``message`` again for every recipient not yet served, and record it.

    A recipient served by this row or by another delivery of the same message
    (the sender's MTA retried meanwhile) is skipped: a view never accepts a
    message twice.
    """
    request = EmailRequest(
        bytes(message.raw),
        envelope_from=message.sender,
        recipients=message.recipients,
        peer=message.peer or None,
        helo=message.helo or None,
        transport=message.transport,
        inbound=message,
    )
    here, elsewhere = message.succeeded_recipients(), served_elsewhere(message)
    todo = [r for r in message.recipients if r.lower() not in here | elsewhere]
    results, views = handle_recipients(request, todo)
    results += [
        Result(recipient=r, outcome=Outcome.DUPLICATE)
        for r in message.recipients
        if r.lower() in elsewhere - here
    ]
    store.record(message, results, views)
    return results


def served_elsewhere(message: InboundMessage) -> set[str]:
    """Recipients that another delivery of the same message already served."""
    if not message.message_id:
        return set()
    others = InboundMessage.objects.filter(
        content_hash=message.content_hash, message_id=message.message_id
    ).exclude(pk=message.pk)
    served: set[str] = set()
    for other in others.only("results"):
        served |= other.succeeded_recipients()
    return served
