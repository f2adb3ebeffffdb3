"""Admin page for what ``fetchmail`` took from each mailbox: read-only bookkeeping."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from mailserver.models.fetch import FetchedMessage


@admin.register(FetchedMessage)
class FetchedMessageAdmin(admin.ModelAdmin):
    list_display = ["fetched_at", "mailbox", "folder", "uid", "status", "inbound"]
    list_filter = ["status", "mailbox", "fetched_at"]
    search_fields = ["mailbox", "folder", "uid", "content_hash"]
    date_hierarchy = "fetched_at"
    list_select_related = ["inbound"]
    raw_id_fields = ["inbound"]

    # The rows are what stops a message from being processed twice: editing one by
    # hand could make fetchmail fetch a message again. Deleting stays possible.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(
        self, request: HttpRequest, obj: FetchedMessage | None = None
    ) -> bool:
        return False
