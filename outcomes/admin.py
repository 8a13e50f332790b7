from django.contrib import admin

from outcomes.models import MeasureSchedule


@admin.register(MeasureSchedule)
class MeasureScheduleAdmin(admin.ModelAdmin):
    """What the clinic asks patients between visits, and when. A change applies to requests made from then on."""

    list_display = ("__str__", "ask_nrs", "ask_peg", "ask_pgic", "ask_further_treatment", "active")
    list_editable = ("ask_nrs", "ask_peg", "ask_pgic", "ask_further_treatment", "active")
    ordering = ("moment", "days_after_course")

    def has_delete_permission(self, request, obj=None):
        return False  # switch a moment off instead: requests made from it name what it asked
