"""Record a bounce the one way every source uses: row, recipient status, policy, signal."""

from __future__ import annotations

from mailserver import signals


def record_bounce(
    address: str,
    kind: str,
    *,
    status: str = "",
    diagnostic: str = "",
    source: str = "",
    inbound=None,
    recipient=None,
    report=None,
):
    """Store a ``Bounce``, mark the outbound recipient bounced, apply the policy.

    Returns the ``Bounce``. ``recipient`` is the ``OutboundRecipient`` when known.
    """
    from mailserver.bounces import policy
    from mailserver.models import Bounce, OutboundRecipient
    from mailserver.models.outbound import RecipientStatus

    bounce = Bounce.objects.create(
        address=address.strip().strip("<>"),
        kind=kind,
        status=status[:16],
        diagnostic=diagnostic,
        source=source[:64],
        inbound_message=inbound,
        outbound_message_id=recipient.message_id if recipient else None,
        outbound_recipient=recipient,
    )
    if recipient is not None and kind in (Bounce.Kind.HARD, Bounce.Kind.SOFT):
        OutboundRecipient.objects.filter(pk=recipient.pk).update(status=RecipientStatus.BOUNCED)
        recipient.status = RecipientStatus.BOUNCED
    policy.apply(bounce)
    signals.bounce_received.send(sender=Bounce, bounce=bounce, report=report)
    return bounce


def find_recipient(address: str, original_message_id: str | None = None):
    """Return the ``OutboundRecipient`` we mailed at ``address``, newest first, or ``None``."""
    from mailserver.models import OutboundRecipient

    rows = OutboundRecipient.objects.filter(address__iexact=address.strip().strip("<>"))
    if original_message_id:
        exact = rows.filter(message__message_id=original_message_id.strip()).first()
        if exact is not None:
            return exact
    return rows.order_by("-pk").first()
