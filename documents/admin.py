from django.contrib import admin

from documents.models import AftercareText, Document


@admin.register(AftercareText)
class AftercareTextAdmin(admin.ModelAdmin):
    """Managers edit the aftercare wording here; the newest saved row is what the next sheets print."""

    list_display = ["__str__", "updated_at", "updated_by"]
    readonly_fields = ["updated_at", "updated_by"]
    fields = ["what_is_normal", "what_to_do", "red_flags", "when_to_call", "updated_at", "updated_by"]

    def save_model(self, request, obj, form, change) -> None:
        obj.updated_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(Document)
class DocumentAdmin(admin.ModelAdmin):
    """Read-only: documents are made by the pipeline and checked against their SHA-256, never edited by hand.
    Ids only in the list, so the admin index shows no patient names."""

    list_display = ["pk", "kind", "version", "status", "session_id", "created_at", "ready_at", "superseded_at"]
    list_filter = ["status", "kind"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
