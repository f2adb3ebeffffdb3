"""The "do not send" list, checked at enqueue and again just before sending."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class Suppression(models.Model):
    """An address mail must not be sent to, and why."""

    class Reason(models.TextChoices):
        #: A hard bounce, or soft bounces past MAILSERVER_SOFT_BOUNCE_LIMIT (the
        #: Bounce rows tell which).
        BOUNCE = "bounce"
        COMPLAINT = "complaint"
        UNSUBSCRIBE = "unsubscribe"
        MANUAL = "manual"

    # Stored normalised (see mailserver.suppression.normalize), so lookups are exact.
    address = models.CharField(max_length=320, unique=True)
    reason = models.CharField(max_length=32, choices=Reason.choices, default=Reason.MANUAL)
    source = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = "mailserver"

    def __str__(self) -> str:
        return f"{self.address} ({self.reason})"
