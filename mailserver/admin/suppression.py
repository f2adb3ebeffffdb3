"""Admin for bounces. (The suppression list's own page, with add and remove,
is registered once, in mailserver/admin/outbound.py.)"""

from django.contrib import admin

from mailserver.models import Bounce


@admin.register(Bounce)
class BounceAdmin(admin.ModelAdmin):
    list_display = ("address", "kind", "status", "source", "created")
    list_filter = ("kind", "source")
    search_fields = ("address", "diagnostic")
    date_hierarchy = "created"
    raw_id_fields = ("inbound_message", "outbound_message", "outbound_recipient")
    readonly_fields = [f for f in list_display] + ["diagnostic"]

    def has_add_permission(self, request):
        return False
