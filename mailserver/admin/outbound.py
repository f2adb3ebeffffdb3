"""Admin pages for the outbound queue: messages, recipients, attempts, suppressions, stats."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import Count, Q
from django.db.models.functions import TruncDate
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone

from mailserver.conf import settings as app_settings
from mailserver.models import DeliveryAttempt, OutboundMessage, OutboundRecipient, Suppression
from mailserver.models.outbound import (
    PENDING_MESSAGE_STATUSES,
    PENDING_RECIPIENT_STATUSES,
    MessageStatus,
    RecipientStatus,
)
from mailserver.outbound.queue import notify_workers

#: Columns of the stats page, in the order a message moves through them.
STATS_COLUMNS = ("queued", "sent", "deferred", "failed", "suppressed", "bounced")


class OutboundRecipientInline(admin.TabularInline):
    model = OutboundRecipient
    extra = 0
    can_delete = False
    fields = ("address", "status", "attempts", "last_reply", "next_attempt_at", "sent_at")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


class DeliveryAttemptInline(admin.StackedInline):
    model = DeliveryAttempt
    extra = 0
    can_delete = False
    fields = ("started_at", "finished_at", "worker", "backend", "replies", "error", "transcript")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(OutboundMessage)
class OutboundMessageAdmin(admin.ModelAdmin):
    list_display = (
        "subject",
        "from_email",
        "status",
        "priority",
        "attempts",
        "next_attempt_at",
        "created_at",
    )
    list_filter = ("status", "priority", "created_at")
    search_fields = ("subject", "message_id", "from_email", "recipients__address")
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    inlines = [OutboundRecipientInline, DeliveryAttemptInline]
    actions = ["retry_now", "cancel", "requeue_failed"]
    exclude = ("raw",)
    readonly_fields = (
        "message_id",
        "from_email",
        "subject",
        "status",
        "created_at",
        "send_after",
        "expires_at",
        "next_attempt_at",
        "attempts",
        "errors",
        "last_error",
        "lease_owner",
        "lease_expires_at",
        "sent_at",
        "source",
    )

    @admin.display(description="message")
    def source(self, obj: OutboundMessage) -> str:
        return bytes(obj.raw).decode("utf-8", "replace")

    def has_add_permission(self, request):
        return False

    @admin.action(description="Retry selected messages now")
    def retry_now(self, request, queryset):
        count = queryset.filter(status__in=PENDING_MESSAGE_STATUSES).update(
            next_attempt_at=timezone.now()
        )
        notify_workers()
        self.message_user(request, f"{count} message(s) will be retried now.", messages.SUCCESS)

    @admin.action(description="Cancel selected messages")
    def cancel(self, request, queryset):
        count = queryset.filter(status__in=PENDING_MESSAGE_STATUSES).update(
            status=MessageStatus.CANCELLED
        )
        self.message_user(request, f"{count} message(s) cancelled.", messages.SUCCESS)

    @admin.action(description="Requeue failed and expired messages")
    def requeue_failed(self, request, queryset):
        count = requeue(queryset)
        notify_workers()
        self.message_user(request, f"{count} message(s) requeued.", messages.SUCCESS)

    def get_urls(self):
        stats = path(
            "stats/",
            self.admin_site.admin_view(self.stats_view),
            name="mailserver_outboundmessage_stats",
        )
        return [stats, *super().get_urls()]

    def stats_view(self, request):
        """Recipients per day and status: queued, sent, deferred, failed, suppressed."""
        rows = daily_stats()
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Outbound mail per day",
            "columns": STATS_COLUMNS,
            "rows": rows,
        }
        return TemplateResponse(request, "admin/mailserver/outbound_stats.html", context)


def requeue(queryset) -> int:
    """Send failed or expired messages again to the recipients that did not get them."""
    now = timezone.now()
    ids = list(
        queryset.filter(status__in=[MessageStatus.FAILED, MessageStatus.EXPIRED]).values_list(
            "pk", flat=True
        )
    )
    OutboundRecipient.objects.filter(
        message__in=ids, status__in=[RecipientStatus.FAILED, *PENDING_RECIPIENT_STATUSES]
    ).update(status=RecipientStatus.QUEUED, next_attempt_at=None)
    return OutboundMessage.objects.filter(pk__in=ids).update(
        status=MessageStatus.QUEUED,
        next_attempt_at=now,
        # A fresh lifetime, or the expired ones would expire again at once.
        expires_at=now + app_settings.MAX_AGE if app_settings.MAX_AGE else None,
        errors=0,
        last_error="",
    )


def daily_stats(days: int = 30) -> list[dict]:
    """Count recipients per day (of queueing) and status, newest day first."""
    since = timezone.now() - timezone.timedelta(days=days)
    counts = {column: Count("pk", filter=Q(status=column)) for column in STATS_COLUMNS}
    return list(
        OutboundRecipient.objects.filter(message__created_at__gte=since)
        .annotate(day=TruncDate("message__created_at"))
        .values("day")
        .annotate(**counts)
        .order_by("-day")
    )


@admin.register(DeliveryAttempt)
class DeliveryAttemptAdmin(admin.ModelAdmin):
    list_display = ("message", "started_at", "worker", "backend", "short_error")
    list_filter = ("backend",)
    search_fields = ("message__subject", "message__message_id", "worker")
    readonly_fields = (
        "message",
        "started_at",
        "finished_at",
        "worker",
        "backend",
        "replies",
        "error",
        "transcript",
    )

    @admin.display(description="error")
    def short_error(self, obj: DeliveryAttempt) -> str:
        return obj.error.splitlines()[-1] if obj.error else ""

    def has_add_permission(self, request):
        return False


@admin.register(Suppression)
class SuppressionAdmin(admin.ModelAdmin):
    list_display = ("address", "reason", "source", "created_at", "expires_at")
    list_filter = ("reason",)
    search_fields = ("address", "source")
    readonly_fields = ("created_at",)

    def save_model(self, request, obj, form, change):
        from mailserver.suppression import normalize

        obj.address = normalize(obj.address)
        super().save_model(request, obj, form, change)
