"""The outbound queue: one row per message, per envelope recipient and per attempt.

The message is stored as the raw RFC 5322 bytes rendered at enqueue time, never
as a pickle, so any worker (or a human in the admin) can read it back and the
worker sends exactly what was queued.
"""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage as StdlibEmailMessage

from django.db import models
from django.utils import timezone


class Priority(models.IntegerChoices):
    """Lower numbers are sent first; the names are the API's words."""

    HIGH = 0, "high"
    NORMAL = 1, "normal"
    LOW = 2, "low"


class MessageStatus(models.TextChoices):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DEFERRED = "deferred"
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class RecipientStatus(models.TextChoices):
    QUEUED = "queued"
    SENT = "sent"
    DEFERRED = "deferred"
    FAILED = "failed"
    SUPPRESSED = "suppressed"
    BOUNCED = "bounced"


#: Statuses of a message a worker may still pick up.
PENDING_MESSAGE_STATUSES = (MessageStatus.QUEUED, MessageStatus.DEFERRED)
#: Statuses of a recipient that still needs a delivery.
PENDING_RECIPIENT_STATUSES = (RecipientStatus.QUEUED, RecipientStatus.DEFERRED)


class OutboundMessage(models.Model):
    """A message waiting in (or gone through) the outbound queue."""

    # Fixed at enqueue; doubles as the idempotency key of enqueueing.
    message_id = models.CharField(max_length=255, unique=True)
    from_email = models.CharField("envelope sender", max_length=320, blank=True)
    subject = models.CharField(max_length=255, blank=True)
    raw = models.BinaryField()
    priority = models.SmallIntegerField(choices=Priority.choices, default=Priority.NORMAL)
    status = models.CharField(
        max_length=10, choices=MessageStatus.choices, default=MessageStatus.QUEUED
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    send_after = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveIntegerField(default=0)
    # Unexpected exceptions so far; past MAILSERVER_POISON_LIMIT the message is quarantined.
    errors = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    lease_owner = models.CharField(max_length=100, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = "mailserver"
        verbose_name = "outbound message"
        indexes = [
            models.Index(
                fields=["status", "priority", "next_attempt_at"], name="mailserver_out_claim"
            ),
            models.Index(fields=["status", "lease_expires_at"], name="mailserver_out_lease"),
        ]

    def __str__(self) -> str:
        return self.subject or self.message_id

    @property
    def priority_name(self) -> str:
        return Priority(self.priority).label

    @property
    def email(self) -> StdlibEmailMessage:
        """The stored bytes parsed as a standard library ``EmailMessage``."""
        return email.message_from_bytes(bytes(self.raw), policy=email.policy.default)


class OutboundRecipient(models.Model):
    """One envelope recipient of an ``OutboundMessage``, with its own outcome."""

    message = models.ForeignKey(
        OutboundMessage, on_delete=models.CASCADE, related_name="recipients"
    )
    address = models.CharField(max_length=320)
    status = models.CharField(
        max_length=10, choices=RecipientStatus.choices, default=RecipientStatus.QUEUED
    )
    attempts = models.PositiveIntegerField(default=0)
    last_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_reply = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = "mailserver"
        verbose_name = "outbound recipient"
        constraints = [
            models.UniqueConstraint(fields=["message", "address"], name="mailserver_out_rcpt_once")
        ]

    def __str__(self) -> str:
        return self.address

    @property
    def domain(self) -> str:
        return self.address.rpartition("@")[2].lower()


class DeliveryAttempt(models.Model):
    """One try at handing a message to the delivery backend."""

    message = models.ForeignKey(
        OutboundMessage, on_delete=models.CASCADE, related_name="delivery_attempts"
    )
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=100, blank=True)
    backend = models.CharField(max_length=255, blank=True)
    # {"address": [code, "reply text"]} for every recipient tried.
    replies = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    transcript = models.TextField(blank=True)

    class Meta:
        app_label = "mailserver"
        verbose_name = "delivery attempt"
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"{self.message} at {self.started_at:%Y-%m-%d %H:%M:%S}"


class DigestItem(models.Model):
    """One item waiting to go out in a recipient's next digest of ``key``."""

    recipient = models.CharField(max_length=320)
    key = models.CharField(max_length=100)
    context = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    message = models.ForeignKey(
        OutboundMessage,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="digest_items",
    )
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = "mailserver"
        verbose_name = "digest item"
        indexes = [
            models.Index(fields=["key", "sent_at", "recipient"], name="mailserver_digest_due")
        ]

    def __str__(self) -> str:
        return f"{self.key} for {self.recipient}"


class ThrottleBucket(models.Model):
    """A token bucket shared by every worker, or a destination that asked us to slow down."""

    key = models.CharField(max_length=255, primary_key=True)
    tokens = models.FloatField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)
    blocked_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = "mailserver"
        verbose_name = "throttle bucket"

    def __str__(self) -> str:
        return self.key
