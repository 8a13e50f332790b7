from django.contrib import admin

from patients.models import Condition, ConsentText


@admin.register(Condition)
class ConditionAdmin(admin.ModelAdmin):
    list_display = ("name", "group", "sort_order", "active")
    list_editable = ("sort_order", "active")
    list_filter = ("group", "active")
    search_fields = ("name",)
    prepopulated_fields = {"code": ("name",)}


@admin.register(ConsentText)
class ConsentTextAdmin(admin.ModelAdmin):
    list_display = ("version", "title", "published_at")

    def get_readonly_fields(self, request, obj=None):
        # Patients consented to these exact words; a change needs a new version.
        if obj is not None and obj.published_at is not None:
            return ("version", "title", "body", "published_at", "created_at")
        return ("created_at",)

    def has_delete_permission(self, request, obj=None):
        return obj is None or obj.published_at is None
