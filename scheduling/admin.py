from django.contrib import admin

from scheduling.models import AppointmentType, TimeOff, WorkingHours


@admin.register(AppointmentType)
class AppointmentTypeAdmin(admin.ModelAdmin):
    list_display = ("name", "duration_minutes", "colour", "active")
    list_editable = ("duration_minutes", "colour", "active")
    prepopulated_fields = {"code": ("name",)}


@admin.register(WorkingHours)
class WorkingHoursAdmin(admin.ModelAdmin):
    list_display = ("clinician", "weekday", "starts", "ends")
    list_filter = ("clinician", "weekday")


@admin.register(TimeOff)
class TimeOffAdmin(admin.ModelAdmin):
    list_display = ("clinician", "starts_on", "ends_on", "reason")
    list_filter = ("clinician",)
    date_hierarchy = "starts_on"
