"""What a recorded bounce does to the suppression list.

Hard bounces and complaints suppress at once. Soft bounces suppress after
``MAILSERVER_SOFT_BOUNCE_LIMIT = (count, window)`` of them, counting only those
since the address last accepted a message: the count is computed from the
data, so the sending path writes nothing extra. ``MAILSERVER_BOUNCE_POLICY``
(a dotted path to ``callable(bounce) -> reason or None``) replaces all this.
"""

from __future__ import annotations

from django.utils import timezone
from django.utils.module_loading import import_string

from mailserver.conf import settings as app_settings

BOUNCE = "bounce"
COMPLAINT = "complaint"
UNSUBSCRIBE = "unsubscribe"


def default_policy(bounce) -> str | None:
    """Return the suppression reason ``bounce`` calls for, or ``None``."""
    from mailserver.models import Bounce

    if bounce.kind == Bounce.Kind.HARD:
        return BOUNCE
    if bounce.kind == Bounce.Kind.COMPLAINT:
        return COMPLAINT
    if bounce.kind == Bounce.Kind.UNSUBSCRIBE:
        return UNSUBSCRIBE
    if bounce.kind == Bounce.Kind.SOFT:
        limit, window = app_settings.SOFT_BOUNCE_LIMIT
        if soft_bounces_since_success(bounce.address, window) >= limit:
            return BOUNCE
    return None


def soft_bounces_since_success(address: str, window) -> int:
    """Count soft bounces of ``address`` within ``window`` and after its last success.

    A success is a recipient row still ``sent``: a recipient that bounced later
    is marked ``bounced``, so it does not reset the count.
    """
    from django.db.models import Max

    from mailserver.models import Bounce, OutboundRecipient
    from mailserver.models.outbound import RecipientStatus

    since = timezone.now() - window
    last_success = OutboundRecipient.objects.filter(
        address__iexact=address, status=RecipientStatus.SENT
    ).aggregate(last=Max("sent_at"))["last"]
    if last_success and last_success > since:
        since = last_success
    return Bounce.objects.filter(
        address__iexact=address, kind=Bounce.Kind.SOFT, created__gt=since
    ).count()


def apply(bounce):
    """Apply the configured policy to ``bounce``; return the ``Suppression`` or ``None``."""
    from mailserver.suppression import suppress

    policy = app_settings.BOUNCE_POLICY
    if isinstance(policy, str):
        policy = import_string(policy)
    reason = (policy or default_policy)(bounce)
    if not reason:
        return None
    return suppress(bounce.address, reason, source=f"bounce:{bounce.pk}")
