from django.contrib import admin

from pit_portal.outbox.models import OutboxEmail


@admin.register(OutboxEmail)
class OutboxEmailAdmin(admin.ModelAdmin):
    """Read-only: staff see what was owed, sent, not sent or failed, and why; the sweeper does the rest."""

    list_display = ("kind", "object_id", "status", "attempts", "last_error", "created_at", "settled_at")
    list_filter = ("status", "kind")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
