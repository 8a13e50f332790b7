from django.contrib import admin

from assessments.models import Nerve


@admin.register(Nerve)
class NerveAdmin(admin.ModelAdmin):
    list_display = ("name", "region", "sort_order", "active")
    list_editable = ("sort_order", "active")
    list_filter = ("region", "active")
    search_fields = ("name",)
    prepopulated_fields = {"code": ("name",)}
