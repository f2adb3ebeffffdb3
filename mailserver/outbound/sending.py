"""Send one claimed message and record what happened to each recipient.

The result of a message is committed as soon as it is known, in its own short
transaction, never at the end of a batch: a worker that dies afterwards loses
nothing, and a recipient that accepted the message is never tried again.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from mailserver import signals, statements
from mailserver.backends.base import Delivery, Reply
from mailserver.bounces import verp
from mailserver.conf import settings as app_settings
from mailserver.models.outbound import (
    DeliveryAttempt,
    MessageStatus,
    OutboundMessage,
    OutboundRecipient,
    RecipientStatus,
)
from mailserver.outbound import claim, throttle
from mailserver.outbound.delivery import backend_label, deliver
from mailserver.suppression import normalize, suppressed_among

#: Throttle waits up to this long are slept through; longer ones give the message back.
MAX_THROTTLE_SLEEP = 1.0


def retry_delay(attempts: int) -> timedelta:
    """Return the wait after the ``attempts``-th temporary failure (``RETRY_BACKOFF``)."""
    backoff = app_settings.RETRY_BACKOFF
    if callable(backoff):
        return backoff(attempts)
    first, longest = backoff
    return min(first * 2 ** max(0, attempts - 1), longest)


class Sender:
    """Send claimed messages through one backend for one worker."""

    def __init__(self, backend, worker_id: str, using: str = "default") -> None:
        self.backend = backend
        self.worker_id = worker_id
        self.using = using
        self.throttle = throttle.Throttle(using)
        self.suppressed: set[str] = set()

    def start_batch(self, batch: list[OutboundMessage] = ()) -> None:
        """Load, once per batch, what every message of it needs to know."""
        self.throttle.refresh_blocks()
        # The suppression list is checked again here, just before sending: one query
        # for the batch instead of one per message.
        self.suppressed = suppressed_among(r.address for m in batch for r in m.pending)

    def process(self, message: OutboundMessage) -> str:
        """Send ``message`` to its pending recipients; return what became of it."""
        now = timezone.now()
        if not self._hold_lease(message, now):
            return "lost"
        pending: list[OutboundRecipient] = list(message.pending)
        if message.expires_at and now >= message.expires_at:
            return self._expire(message, pending)
        suppressed = self.suppressed
        if suppressed and any(normalize(r.address) in suppressed for r in pending):
            still = [r for r in pending if normalize(r.address) not in suppressed]
            self._suppress(message, [r for r in pending if r not in still])
            pending = still
        if not pending:
            return self._finish(message, [], Delivery(), now)

        wait = self.throttle.acquire([r.address for r in pending])
        while 0 < wait <= MAX_THROTTLE_SLEEP:
            time.sleep(wait)
            wait = self.throttle.acquire([r.address for r in pending])
        if wait:
            claim.release(message, self.worker_id, until=timezone.now() + timedelta(seconds=wait))
            return "throttled"

        started = timezone.now()
        if app_settings.VERP:  # issue 5: one return path, so one transaction, per recipient
            delivery = verp.deliver_each(deliver, self.backend, message, pending)
        else:
            delivery = deliver(
                self.backend, message.from_email, [r.address for r in pending], bytes(message.raw)
            )
        self._slow_down(delivery)
        return self._finish(message, pending, delivery, started)

    def _hold_lease(self, message: OutboundMessage, now: datetime) -> bool:
        """Renew the lease once half of it is gone; False if another worker took it over.

        A slow batch (throttled, or a slow server) could otherwise outlive its
        lease, and a second worker would send the same message.
        """
        lease = app_settings.LEASE_TIME
        if message.lease_expires_at and now < message.lease_expires_at - lease / 2:
            return True
        renewed = (
            OutboundMessage.objects.using(self.using)
            .filter(pk=message.pk, lease_owner=self.worker_id, status=MessageStatus.SENDING)
            .update(lease_expires_at=now + lease)
        )
        message.lease_expires_at = now + lease
        return bool(renewed)

    def _slow_down(self, delivery: Delivery) -> None:
        """Back off a destination that said 421 or 4.7.x, as Postfix does."""
        for address, reply in delivery.replies.items():
            if not reply.slow_down:
                continue
            if reply.code == 421:
                # The whole connection (the smarthost) asked us to wait.
                self.throttle.block(throttle.GLOBAL)
            else:
                self.throttle.block(throttle.domain_key(address.rpartition("@")[2]))

    def _suppress(self, message: OutboundMessage, recipients: list[OutboundRecipient]) -> None:
        OutboundRecipient.objects.using(self.using).filter(
            pk__in=[r.pk for r in recipients]
        ).update(status=RecipientStatus.SUPPRESSED, last_reply="suppressed at send")

    def _expire(self, message: OutboundMessage, pending: list[OutboundRecipient]) -> str:
        reply = Reply(554, "5.4.7 Delivery time expired (MAILSERVER_MAX_AGE)")
        with transaction.atomic(using=self.using):
            OutboundRecipient.objects.using(self.using).filter(
                pk__in=[r.pk for r in pending]
            ).update(status=RecipientStatus.FAILED, last_code=reply.code, last_reply=str(reply))
            self._update_message(
                message, status=MessageStatus.EXPIRED, last_error=str(reply), next_attempt_at=None
            )
        for recipient in pending:
            recipient.status, recipient.last_code, recipient.last_reply = (
                RecipientStatus.FAILED,
                reply.code,
                str(reply),
            )
            signals.mail_failed.send(sender=OutboundMessage, message=message, recipient=recipient)
        return MessageStatus.EXPIRED

    def _finish(
        self,
        message: OutboundMessage,
        tried: list[OutboundRecipient],
        delivery: Delivery,
        started: datetime,
    ) -> str:
        now = timezone.now()
        sent, failed, deferred = [], [], []
        poisoned = delivery.poison and message.errors + 1 >= app_settings.POISON_LIMIT
        for recipient in tried:
            reply = delivery.replies.get(recipient.address) or Reply(
                451, "4.3.0 The backend gave no reply for this recipient"
            )
            recipient.attempts += 1
            recipient.last_code = reply.code
            recipient.last_reply = str(reply)
            if reply.accepted:
                recipient.status, recipient.sent_at = RecipientStatus.SENT, now
                recipient.next_attempt_at = None
                sent.append(recipient)
            elif reply.permanent or poisoned:
                recipient.status, recipient.next_attempt_at = RecipientStatus.FAILED, None
                failed.append(recipient)
            else:
                recipient.status = RecipientStatus.DEFERRED
                recipient.next_attempt_at = now + retry_delay(recipient.attempts)
                if message.expires_at:
                    recipient.next_attempt_at = min(recipient.next_attempt_at, message.expires_at)
                deferred.append(recipient)

        with transaction.atomic(using=self.using):
            if tried:
                self._save_recipients(tried)
                attempt = DeliveryAttempt(
                    message=message,
                    started_at=started,
                    finished_at=now,
                    worker=self.worker_id,
                    backend=backend_label(self.backend),
                    replies={a: [r.code, r.text] for a, r in delivery.replies.items()},
                    error=delivery.error,
                    transcript=delivery.transcript,
                )
                statements.insert([attempt], using=self.using)
            if deferred:
                status = MessageStatus.DEFERRED
                next_attempt = min(r.next_attempt_at for r in deferred)
            else:
                # Recipients tried earlier may still be deferred (none are, if we got here
                # with an empty ``tried``); what is left decides the final word.
                status, next_attempt = self._final_status(message, sent), None
            fields = {
                "status": status,
                "attempts": message.attempts + (1 if tried else 0),
                "errors": message.errors + (1 if delivery.poison else 0),
                "last_error": delivery.error or _first_problem(failed + deferred),
                "next_attempt_at": next_attempt,
            }
            if poisoned:
                fields["last_error"] = (
                    f"Quarantined after {fields['errors']} unexpected errors "
                    f"(MAILSERVER_POISON_LIMIT):\n{delivery.error}"
                )
            if sent and status == MessageStatus.SENT:
                fields["sent_at"] = now
            self._update_message(message, **fields)
        for recipient in sent:
            signals.mail_sent.send(sender=OutboundMessage, message=message, recipient=recipient)
        for recipient in failed:
            signals.mail_failed.send(sender=OutboundMessage, message=message, recipient=recipient)
        return status

    def _save_recipients(self, recipients: list[OutboundRecipient]) -> None:
        """Write the recipients' new state, one UPDATE per distinct outcome (usually one)."""
        names = ("status", "last_code", "last_reply", "next_attempt_at", "sent_at")
        groups: dict[tuple, list[int]] = {}
        for r in recipients:
            groups.setdefault(tuple(getattr(r, name) for name in names), []).append(r.pk)
        for values, pks in groups.items():
            statements.update(
                OutboundRecipient,
                pks,
                dict(zip(names, values, strict=True)),
                increment=["attempts"],
                using=self.using,
            )

    def _final_status(self, message: OutboundMessage, sent: list[OutboundRecipient]) -> str:
        if sent:
            return MessageStatus.SENT
        any_sent = (
            OutboundRecipient.objects.using(self.using)
            .filter(message=message, status=RecipientStatus.SENT)
            .exists()
        )
        return MessageStatus.SENT if any_sent else MessageStatus.FAILED

    def _update_message(self, message: OutboundMessage, **fields) -> None:
        fields.setdefault("lease_owner", "")
        fields.setdefault("lease_expires_at", None)
        if fields.get("next_attempt_at") is None:
            fields["next_attempt_at"] = message.next_attempt_at
        for name, value in fields.items():
            setattr(message, name, value)
        statements.update(OutboundMessage, [message.pk], fields, using=self.using)


def _first_problem(recipients: list[OutboundRecipient]) -> str:
    return f"{recipients[0].address}: {recipients[0].last_reply}" if recipients else ""
