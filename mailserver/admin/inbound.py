"""Admin pages for stored inbound mail: find it, read it, retry it."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from mailserver.models.inbound import InboundMessage


@admin.register(InboundMessage)
class InboundMessageAdmin(admin.ModelAdmin):
    list_display = ["received_at", "status", "sender", "recipient_list", "subject", "route_name"]
    list_filter = ["status", "transport", "route_name", "received_at"]
    search_fields = ["sender", "recipients", "subject", "message_id", "route_name"]
    date_hierarchy = "received_at"
    actions = ["retry", "mark_processed"]
    fieldsets = [
        (None, {"fields": ["status", "reply", "route_name", "view_name", "error"]}),
        (
            _("Envelope"),
            {"fields": ["sender", "recipients", "peer", "helo", "transport", "results"]},
        ),
        (
            _("Message"),
            {
                "fields": [
                    "message_id",
                    "subject",
                    "size",
                    "raw_download",
                    "header_section",
                    "text",
                    "html_source",
                    "attachment_links",
                ]
            },
        ),
        (_("History"), {"fields": ["received_at", "processed_at", "attempts", "content_hash"]}),
    ]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # Stored mail is evidence: it is read and retried here, never edited.
        return [field for fieldset in self.fieldsets for field in fieldset[1]["fields"]]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def get_urls(self) -> list:
        view = self.admin_site.admin_view
        return [
            path(
                "<int:pk>/raw/",
                view(self.raw_view),
                name="mailserver_inboundmessage_raw",
            ),
            path(
                "<int:pk>/attachment/<int:index>/",
                view(self.attachment_view),
                name="mailserver_inboundmessage_attachment",
            ),
            *super().get_urls(),
        ]

    # Columns and fields ------------------------------------------------------------

    @admin.display(description=_("recipients"))
    def recipient_list(self, obj: InboundMessage) -> str:
        return ", ".join(obj.recipients)

    @admin.display(description=_("raw message"))
    def raw_download(self, obj: InboundMessage) -> str:
        url = reverse("admin:mailserver_inboundmessage_raw", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, _("Download .eml"))

    @admin.display(description=_("headers"))
    def header_section(self, obj: InboundMessage) -> str:
        from mailserver.mime.headers import header_block

        return format_html(
            "<pre>{}</pre>", header_block(bytes(obj.raw)).decode("utf-8", "replace")
        )

    @admin.display(description=_("text"))
    def text(self, obj: InboundMessage) -> str:
        return format_html("<pre>{}</pre>", _parsed(obj).text)

    @admin.display(description=_("HTML source"))
    def html_source(self, obj: InboundMessage) -> str:
        # Shown as escaped source: rendering mail HTML in the admin would run its scripts.
        return format_html("<pre>{}</pre>", _parsed(obj).html)

    @admin.display(description=_("attachments"))
    def attachment_links(self, obj: InboundMessage) -> str:
        return format_html_join(
            "",
            '<div><a href="{}">{}</a> ({}, {} bytes)</div>',
            (
                (
                    reverse("admin:mailserver_inboundmessage_attachment", args=[obj.pk, index]),
                    attachment.filename or _("(no name)"),
                    attachment.content_type,
                    attachment.size,
                )
                for index, attachment in enumerate(_parsed(obj).attachments)
            ),
        )

    # Downloads ---------------------------------------------------------------------

    def raw_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        obj = self._get_viewable(request, pk)
        response = HttpResponse(bytes(obj.raw), content_type="message/rfc822")
        response["Content-Disposition"] = f'attachment; filename="inbound-{obj.pk}.eml"'
        return response

    def attachment_view(self, request: HttpRequest, pk: int, index: int) -> HttpResponse:
        obj = self._get_viewable(request, pk)
        attachments = _parsed(obj).attachments
        if index >= len(attachments):
            raise Http404("No such attachment.")
        attachment = attachments[index]
        # Always a download, never rendered inline: the content comes from strangers.
        response = HttpResponse(attachment.content, content_type="application/octet-stream")
        filename = (attachment.filename or f"attachment-{index}").replace('"', "")
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        response["X-Content-Type-Options"] = "nosniff"
        return response

    def _get_viewable(self, request: HttpRequest, pk: int) -> InboundMessage:
        obj = get_object_or_404(InboundMessage, pk=pk)
        if not self.has_view_permission(request, obj):
            raise Http404("No such message.")
        return obj

    # Actions -----------------------------------------------------------------------

    @admin.action(description=_("Retry the selected messages"), permissions=["change"])
    def retry(self, request: HttpRequest, queryset: Any) -> None:
        from mailserver.ingress.replay import retry

        failed = 0
        for message in queryset.order_by("pk"):
            retry(message)
            failed += message.status == InboundMessage.Status.FAILED
        count = queryset.count()
        self.message_user(
            request,
            ngettext(
                "Retried %(count)d message; %(failed)d still failed.",
                "Retried %(count)d messages; %(failed)d still failed.",
                count,
            )
            % {"count": count, "failed": failed},
            messages.WARNING if failed else messages.SUCCESS,
        )

    @admin.action(description=_("Mark the selected messages processed"), permissions=["change"])
    def mark_processed(self, request: HttpRequest, queryset: Any) -> None:
        updated = queryset.update(
            status=InboundMessage.Status.PROCESSED, processed_at=timezone.now()
        )
        self.message_user(
            request,
            ngettext("Marked %d message processed.", "Marked %d messages processed.", updated)
            % updated,
        )


def _parsed(obj: InboundMessage) -> Any:
    """The message parsed once per admin request, like a view's ``EmailRequest``."""
    from mailserver.request import EmailRequest

    if getattr(obj, "_parsed_request", None) is None:
        obj._parsed_request = EmailRequest(bytes(obj.raw), transport=obj.transport)
    return obj._parsed_request
