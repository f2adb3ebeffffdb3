"""Bounces and complaints received about the mail we sent."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class Bounce(models.Model):
    """One recipient's bounce or complaint, however it reached us.

    Auto-replies ("out of office") are not recorded: they say nothing about
    whether an address works.
    """

    class Kind(models.TextChoices):
        HARD = "hard"
        SOFT = "soft"
        COMPLAINT = "complaint"
        UNSUBSCRIBE = "unsubscribe"

    address = models.CharField(max_length=320, db_index=True)
    kind = models.CharField(max_length=12, choices=Kind.choices)
    status = models.CharField(max_length=16, blank=True)  # "5.1.1"
    diagnostic = models.TextField(blank=True)
    # Where it came from: "verp", "dsn", "anymail:<esp>", "ses", ...
    source = models.CharField(max_length=64, blank=True)
    inbound_message = models.ForeignKey(
        "mailserver.InboundMessage", null=True, blank=True, on_delete=models.SET_NULL
    )
    outbound_message = models.ForeignKey(
        "mailserver.OutboundMessage", null=True, blank=True, on_delete=models.SET_NULL
    )
    outbound_recipient = models.ForeignKey(
        "mailserver.OutboundRecipient", null=True, blank=True, on_delete=models.SET_NULL
    )
    created = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        app_label = "mailserver"
        indexes = [
            models.Index(fields=["address", "kind", "created"], name="mailserver_bounce_addr")
        ]

    def __str__(self) -> str:
        return f"{self.address} ({self.kind})"
