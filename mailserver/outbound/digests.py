"""Digests: collect items per recipient, then send each recipient one mail with all of them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import router, transaction
from django.utils import timezone

from mailserver.models.outbound import DigestItem
from mailserver.outbound.templates import render_templated_mail


def queue_digest(recipient: str, key: str, context: Mapping[str, Any]) -> DigestItem:
    """Keep ``context`` (JSON-serialisable) for ``recipient``'s next digest named ``key``."""
    return DigestItem.objects.create(recipient=recipient, key=key, context=dict(context))


def send_digests(
    key: str,
    template_name: str | None = None,
    from_email: str | None = None,
    priority: str = "low",
) -> int:
    """Queue one mail per recipient with pending ``key`` items; return how many.

    The template (default ``mailserver/digests/<key>``, as for
    :func:`send_templated_mail`) gets ``items`` (the stored contexts, oldest
    first), ``recipient`` and ``key``. Items are marked sent in the same
    transaction that queues their mail, so each is in exactly one digest even
    when two ``senddigests`` run at once.
    """
    from mailserver.outbound.queue import enqueue

    template_name = template_name or f"mailserver/digests/{key}"
    using = router.db_for_write(DigestItem)
    items = DigestItem.objects.using(using)
    recipients = list(
        items.filter(key=key, sent_at__isnull=True)
        .order_by("recipient")
        .values_list("recipient", flat=True)
        .distinct()
    )
    sent = 0
    for recipient in recipients:
        with transaction.atomic(using=using):
            pending = list(
                items.filter(key=key, recipient=recipient, sent_at__isnull=True)
                .select_for_update(skip_locked=True)
                .order_by("created_at", "pk")
            )
            if not pending:
                continue
            context = {"items": [i.context for i in pending], "recipient": recipient, "key": key}
            message = render_templated_mail(template_name, context, recipient, from_email)
            row = enqueue(message, priority=priority)
            items.filter(pk__in=[i.pk for i in pending]).update(
                sent_at=timezone.now(), message=row
            )
            sent += 1
    return sent
