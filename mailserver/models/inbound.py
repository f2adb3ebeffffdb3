"""The durable record of every message the inbound pipeline accepted."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class InboundMessage(models.Model):
    """One delivery of a message, stored before any view sees it.

    Each delivery attempt (an SMTP transaction, a ``readmail`` run) is its own
    row, so rows are only ever inserted by the transport and updated by the
    pipeline that inserted them: concurrent deliveries never race on one row.
    A repeated delivery is recognised by ``content_hash`` and ``message_id``.
    """

    class Status(models.TextChoices):
        RECEIVED = "received", _("received")
        PROCESSED = "processed", _("processed")
        REJECTED = "rejected", _("rejected")
        FAILED = "failed", _("failed")

    raw = models.BinaryField(_("raw message"))
    size = models.PositiveIntegerField(_("size"), default=0)
    # The only lookup on the hot path (repeat detection), so the only extra index there;
    # every index costs each insert and update.
    content_hash = models.CharField(_("SHA-256 of the raw bytes"), max_length=64, db_index=True)
    message_id = models.CharField(_("Message-ID"), max_length=255, blank=True)
    subject = models.CharField(_("subject"), max_length=255, blank=True)
    sender = models.CharField(_("envelope sender"), max_length=320, blank=True)
    recipients = models.JSONField(_("envelope recipients"), default=list)
    peer = models.CharField(_("peer address"), max_length=255, blank=True)
    helo = models.CharField(_("HELO name"), max_length=255, blank=True)
    transport = models.CharField(_("transport"), max_length=16)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.RECEIVED
    )
    received_at = models.DateTimeField(_("received at"), default=timezone.now, db_index=True)
    processed_at = models.DateTimeField(_("processed at"), null=True, blank=True)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    route_name = models.CharField(_("route"), max_length=255, blank=True)
    view_name = models.CharField(_("view"), max_length=255, blank=True)
    reply_code = models.PositiveSmallIntegerField(_("reply code"), null=True, blank=True)
    reply_status = models.CharField(_("enhanced status code"), max_length=16, blank=True)
    reply_text = models.CharField(_("reply text"), max_length=255, blank=True)
    #: Per recipient: ``{"outcome", "code", "status", "text", "route", "view"}``.
    results = models.JSONField(_("per-recipient results"), default=dict, blank=True)
    error = models.TextField(_("error"), blank=True)

    class Meta:
        verbose_name = _("inbound message")
        verbose_name_plural = _("inbound messages")
        ordering = ["-received_at", "-pk"]
        indexes = [
            models.Index(fields=["status", "received_at"], name="mailserver_inbound_status")
        ]

    def __str__(self) -> str:
        return f"{self.message_id or self.content_hash[:12]} ({self.status})"

    @property
    def reply(self) -> str:
        """The reply the peer was given, e.g. ``250 2.0.0 Message accepted``."""
        if self.reply_code is None:
            return ""
        return f"{self.reply_code} {self.reply_status} {self.reply_text}"

    def succeeded_recipients(self) -> set[str]:
        """Lower-cased recipients whose view ran and accepted the message."""
        return {
            recipient.lower()
            for recipient, result in (self.results or {}).items()
            if result.get("code", 500) < 400
        }
