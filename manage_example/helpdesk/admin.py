"""The help desk in the admin: tickets with their conversation, replies, downloads."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import Count
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from helpdesk import mail
from helpdesk.models import Announcement, Attachment, Customer, Message, Ticket
from mailserver.models.bounces import Bounce
from mailserver.suppression import is_suppressed


class MessageInline(admin.StackedInline):
    model = Message
    extra = 0
    can_delete = False
    fields = ["created_at", "author", "from_staff", "body", "files"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False  # Staff answer with the reply box below, which sends the mail.

    @admin.display(description="attachments")
    def files(self, obj: Message) -> str:
        return format_html_join(
            ", ",
            '<a href="{}">{}</a> ({} bytes)',
            (
                (reverse("admin:helpdesk_attachment_download", args=[a.pk]), a.filename, a.size)
                for a in obj.attachments.all()
            ),
        )


class TicketForm(forms.ModelForm):
    reply = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6}),
        required=False,
        help_text="Sent to the customer through the outbound queue, threaded under the ticket.",
    )

    class Meta:
        model = Ticket
        fields = ["subject", "status", "reply"]


@admin.register(Ticket)
class TicketAdmin(admin.ModelAdmin):
    form = TicketForm
    list_display = ["id", "subject", "customer", "status", "message_count", "created_at"]
    list_filter = ["status", "created_at"]
    search_fields = ["subject", "customer__email", "messages__body"]
    inlines = [MessageInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(message_count=Count("messages"))

    @admin.display(description="messages", ordering="message_count")
    def message_count(self, obj: Ticket) -> int:
        return obj.message_count

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        body = form.cleaned_data.get("reply")
        if body:
            mail.send_staff_reply(obj, body, author=request.user.email or request.user.username)
            messages.success(request, f"Your reply to {obj.customer.email} is queued.")


@admin.register(Attachment)
class AttachmentAdmin(admin.ModelAdmin):
    list_display = ["filename", "content_type", "size", "message", "download"]
    search_fields = ["filename", "message__ticket__subject"]

    def get_urls(self):
        download = self.admin_site.admin_view(self.download_view)
        return [
            path("<int:pk>/download/", download, name="helpdesk_attachment_download"),
            *super().get_urls(),
        ]

    def download_view(self, request, pk):
        """Serve the file to staff only, as a download (never rendered in the admin)."""
        if not self.has_view_permission(request):
            raise Http404
        attachment = get_object_or_404(Attachment, pk=pk)
        return FileResponse(
            attachment.file.open("rb"),
            as_attachment=True,
            filename=attachment.filename,
            content_type="application/octet-stream",
        )

    @admin.display(description="download")
    def download(self, obj: Attachment) -> str:
        url = reverse("admin:helpdesk_attachment_download", args=[obj.pk])
        return format_html('<a href="{}">download</a>', url)


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ["email", "name", "ticket_count", "bounces", "suppressed", "unsubscribed_at"]
    search_fields = ["email", "name"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(ticket_count=Count("tickets"))

    @admin.display(description="tickets", ordering="ticket_count")
    def ticket_count(self, obj: Customer) -> int:
        return obj.ticket_count

    @admin.display(description="bounces")
    def bounces(self, obj: Customer) -> int:
        return Bounce.objects.filter(address__iexact=obj.email).count()

    @admin.display(description="suppressed (bounced)", boolean=True)
    def suppressed(self, obj: Customer) -> bool:
        return is_suppressed(obj.email)


@admin.register(Announcement)
class AnnouncementAdmin(admin.ModelAdmin):
    list_display = ["subject", "send_at", "queued_at", "recipients"]
    actions = ["queue"]

    @admin.action(description="Queue for every subscribed customer")
    def queue(self, request, queryset) -> None:
        for announcement in queryset.filter(queued_at__isnull=True):
            count = mail.queue_announcement(announcement)
            messages.success(request, f"{announcement}: queued for {count} customers.")
