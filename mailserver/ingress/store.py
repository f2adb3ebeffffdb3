"""Keep every accepted message in the database before any view sees it.

The pipeline calls :func:`store` before handling and :func:`record` after;
``runmailserver`` sends the same work through :class:`~mailserver.ingress.writer.InboundWriter`,
which groups the writes of concurrent sessions into one transaction. A repeated
delivery (same Message-ID, same bytes) does not run a view again for a recipient
that already accepted it: :func:`store` returns those recipients.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from mailserver import statements
from mailserver.ingress import rows
from mailserver.models.inbound import InboundMessage
from mailserver.status import Result, summarize

Status = InboundMessage.Status


def new_message(request: Any, recipients: Sequence[str]) -> InboundMessage:
    """Build the (unsaved) row for ``request``, reading only its header section."""
    raw = request.raw
    return InboundMessage(
        raw=raw,
        size=len(raw),
        content_hash=hashlib.sha256(raw).hexdigest(),
        message_id=request.message_id[:255],
        subject=request.subject[:255],
        sender=request.envelope_from or "",
        recipients=list(recipients),
        peer=request.peer or "",
        helo=(request.helo or "")[:255],
        transport=request.transport,
    )


def previous_successes(messages: Sequence[InboundMessage]) -> list[set[str] | None]:
    """For each unsaved row, the recipients an earlier delivery of it already served.

    ``None`` when no earlier delivery exists. One query for the whole batch.
    A message without a Message-ID is never treated as a repeat: identical
    bytes without one are too likely to be two genuine messages (a test
    sending the same fixture twice).
    """
    keyed = {(m.content_hash, m.message_id) for m in messages if m.message_id}
    done: dict[tuple[str, str], set[str]] = {}
    if keyed:
        for content_hash, message_id, results in rows.results_by_key({h for h, _ in keyed}):
            if (content_hash, message_id) in keyed:
                done.setdefault((content_hash, message_id), set()).update(_succeeded(results))
    return [done.get((m.content_hash, m.message_id)) for m in messages]


def insert(messages: Sequence[InboundMessage]) -> list[set[str]]:
    """Save new rows (call inside one transaction) and return what was already done."""
    done = previous_successes(messages)
    for message, recipients in zip(messages, done, strict=True):
        # Remembered so record() settles older failed deliveries of the same message.
        message.is_repeat = recipients is not None
    statements.insert(messages)
    return [recipients or set() for recipients in done]


def store(request: Any, recipients: Sequence[str]) -> tuple[InboundMessage, set[str]]:
    """Store ``request`` durably; return the row and the recipients already served."""
    message = new_message(request, recipients)
    # A savepoint, so a failed insert does not poison a caller's transaction.
    with transaction.atomic():
        [done] = insert([message])
    return message, done


def record_fields(
    results: Sequence[Result], views: Mapping[str, str], previous: Mapping | None = None
) -> dict[str, Any]:
    """The columns that describe how a delivery went, for one ``UPDATE``."""
    per_recipient = dict(previous or {})
    for result in results:
        per_recipient[result.recipient] = {
            "outcome": result.outcome.value,
            "code": result.code,
            "status": result.status,
            "text": result.text,
            "route": result.route_name or "",
            "view": views.get(result.recipient, ""),
        }
    fields = {
        "results": per_recipient,
        "status": status_for(per_recipient),
        "error": "\n".join(f"{r.recipient}:\n{r.error}" for r in results if r.error),
        "processed_at": timezone.now(),
    }
    if results:
        summary = summarize(results)
        fields.update(
            route_name=_joined(r.route_name for r in results),
            view_name=_joined(views.get(r.recipient) for r in results),
            reply_code=summary.code,
            reply_status=summary.status,
            reply_text=summary.text[:255],
        )
    return fields


def status_for(results: Mapping[str, Mapping[str, Any]]) -> str:
    """``failed`` if a recipient is left to retry, ``rejected`` if none accepted."""
    codes = [result.get("code") or 500 for result in results.values()]
    if any(400 <= code < 500 for code in codes):
        return Status.FAILED
    if not any(code < 400 for code in codes):
        return Status.REJECTED
    return Status.PROCESSED


def apply_record(message: InboundMessage, fields: Mapping[str, Any]) -> None:
    """Write ``fields`` to the row (call inside the writer's transaction)."""
    statements.update(InboundMessage, [message.pk], fields, increment=["attempts"])
    message.attempts += 1
    for name, value in fields.items():
        setattr(message, name, value)
    if getattr(message, "is_repeat", False) and fields["status"] == Status.PROCESSED:
        settle_earlier_deliveries(message)


def record(message: InboundMessage, results: Sequence[Result], views: Mapping[str, str]) -> None:
    """Mark the row processed, rejected or failed, with each recipient's outcome."""
    with transaction.atomic():
        apply_record(message, record_fields(results, views, message.results))


def settle_earlier_deliveries(message: InboundMessage) -> int:
    """Mark failed earlier deliveries processed once every recipient has been served.

    The sender's MTA retried and this delivery finished the job, so
    ``retrymail --all-failed`` must not run those views again.
    """
    same = InboundMessage.objects.filter(
        content_hash=message.content_hash, message_id=message.message_id
    )
    served: set[str] = set()
    for results in same.values_list("results", flat=True):
        served |= _succeeded(results)
    settled = [
        pk
        for pk, recipients in same.filter(status=Status.FAILED).values_list("pk", "recipients")
        if {r.lower() for r in recipients} <= served
    ]
    if settled:
        InboundMessage.objects.filter(pk__in=settled).update(
            status=Status.PROCESSED, processed_at=timezone.now()
        )
    return len(settled)


def purge(
    older_than: datetime, statuses: Iterable[str] = (Status.PROCESSED, Status.REJECTED)
) -> int:
    """Delete rows with one of ``statuses`` received before ``older_than``."""
    deleted, _ = InboundMessage.objects.filter(
        status__in=list(statuses), received_at__lt=older_than
    ).delete()
    return deleted


def _succeeded(results: Mapping | None) -> set[str]:
    return {r.lower() for r, result in (results or {}).items() if result.get("code", 500) < 400}


def _joined(values: Iterable[str | None]) -> str:
    return ", ".join(dict.fromkeys(v for v in values if v))[:255]
