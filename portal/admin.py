from django.contrib import admin

from portal.models import CheckIn, PatientInvite, RecordCopy


@admin.register(PatientInvite)
class PatientInviteAdmin(admin.ModelAdmin):
    """Read-only: invitations are made from the patient page, so the token is only ever made by the worker."""

    list_display = ["patient_id", "email", "created_at", "expires_at", "used_at", "revoked_at"]
    list_filter = ["used_at", "revoked_at"]
    exclude = ["token_sha256"]  # a hash is useless to a reader, and needs no second copy on screen
    readonly_fields = ["patient", "email", "expires_at", "used_at", "revoked_at", "created_by", "created_at"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(CheckIn)
class CheckInAdmin(admin.ModelAdmin):
    """Patients' own answers: never edited by staff, so the clinician reads what the patient sent."""

    list_display = ["appointment_id", "patient_id", "submitted_at"]
    readonly_fields = [field.name for field in CheckIn._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(RecordCopy)
class RecordCopyAdmin(admin.ModelAdmin):
    """Read-only: which patient asked for a copy of their record, what became of it, when it was downloaded. Asked
    for by the patient, built by the worker; the zip itself goes out only through the portal's download."""

    list_display = ["patient_id", "requested_at", "status", "ready_at", "expires_at", "download_count", "downloaded_at"]
    list_filter = ["status"]
    readonly_fields = [field.name for field in RecordCopy._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
