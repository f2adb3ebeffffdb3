"""Claim due messages for one worker, and give back what it did not send.

A batch is claimed in one short transaction with
``select_for_update(skip_locked=True)``: concurrent workers skip each other's
rows instead of waiting. A claimed message carries a lease (``lease_owner``,
``lease_expires_at``); when a worker dies, any worker takes the message over
once the lease has run out. Nothing is sent inside that transaction.
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.db.models import Prefetch, Q
from django.utils import timezone

from mailserver.conf import settings as app_settings
from mailserver.models.outbound import (
    PENDING_MESSAGE_STATUSES,
    PENDING_RECIPIENT_STATUSES,
    MessageStatus,
    OutboundMessage,
    OutboundRecipient,
    Priority,
)

#: The share of each batch kept for lower-priority mail that has waited past the aging time.
AGED_SHARE = 10


def due(now: datetime) -> Q:
    """Messages a worker may take now: waiting and due, or held by an expired lease."""
    return Q(status__in=PENDING_MESSAGE_STATUSES, next_attempt_at__lte=now) | Q(
        status=MessageStatus.SENDING, lease_expires_at__lt=now
    )


def claim(worker_id: str, limit: int, using: str = "default") -> list[OutboundMessage]:
    """Lease up to ``limit`` due messages to ``worker_id`` and return them, most urgent first.

    Priority lanes with aging: most of the batch is taken strictly by priority
    (high, normal, low; oldest first within a lane), so bulk mail never
    starves a password reset. One slot in ten goes first to lower-priority mail
    that has waited longer than ``MAILSERVER_PRIORITY_AGING``, so low-priority
    mail still moves under constant high-priority load.
    """
    now = timezone.now()
    messages = OutboundMessage.objects.using(using)
    with transaction.atomic(using=using):
        ready = messages.filter(due(now)).select_for_update(skip_locked=True)
        aged: list[int] = []
        aging = app_settings.PRIORITY_AGING
        if aging is not None:
            aged = list(
                ready.filter(priority__gt=Priority.HIGH, next_attempt_at__lte=now - aging)
                .order_by("next_attempt_at", "pk")
                .values_list("pk", flat=True)[: max(1, limit // AGED_SHARE)]
            )
        rest = list(
            ready.exclude(pk__in=aged)
            .order_by("priority", "next_attempt_at", "pk")
            .values_list("pk", flat=True)[: limit - len(aged)]
        )
        pks = aged + rest
        if not pks:
            return []
        messages.filter(pk__in=pks).update(
            status=MessageStatus.SENDING,
            lease_owner=worker_id,
            lease_expires_at=now + app_settings.LEASE_TIME,
        )
    pending = (
        OutboundRecipient.objects.using(using)
        .filter(status__in=PENDING_RECIPIENT_STATUSES)
        .order_by("pk")
    )
    claimed = messages.filter(pk__in=pks, lease_owner=worker_id).prefetch_related(
        Prefetch("recipients", queryset=pending, to_attr="pending")
    )
    order = {pk: i for i, pk in enumerate(pks)}
    return sorted(claimed, key=lambda m: (m.pk not in aged, m.priority, order[m.pk]))


def release(message: OutboundMessage, worker_id: str, until: datetime | None = None) -> None:
    """Give an unsent message back to the queue (to be taken again at ``until``)."""
    status = MessageStatus.DEFERRED if message.attempts else MessageStatus.QUEUED
    OutboundMessage.objects.using(message._state.db).filter(
        pk=message.pk, lease_owner=worker_id, status=MessageStatus.SENDING
    ).update(
        status=status,
        lease_owner="",
        lease_expires_at=None,
        next_attempt_at=until or message.next_attempt_at,
    )
