from django.conf import settings
from django.db import models
from django.db.models import Q

from patients.models import Patient
from pit_portal.history import track_changes


class DocumentKind(models.TextChoices):
    AFTERCARE = "aftercare", "Aftercare sheet"
    VISIT_SUMMARY = "visit_summary", "Visit summary"


class DocumentStatus(models.TextChoices):
    PENDING = "pending", "Being prepared"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


@track_changes()
class Document(models.Model):
    """A PDF made from a signed session. The database row is the source of truth for pending work:
    the sweeper re-enqueues rows left pending, so a lost broker message loses nothing."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="documents")
    session = models.ForeignKey("treatments.InjectionSession", on_delete=models.PROTECT, related_name="documents")
    kind = models.CharField(max_length=20, choices=DocumentKind.choices)
    version = models.PositiveSmallIntegerField(default=1)
    status = models.CharField(max_length=10, choices=DocumentStatus.choices, default=DocumentStatus.PENDING)
    # Set when a newer version was made (an addendum; for the aftercare sheet, a change to the next appointment).
    # Superseded versions stay downloadable, marked as such, by staff and by the patient.
    superseded_at = models.DateTimeField(null=True, blank=True)

    file_name = models.CharField(max_length=200, blank=True, help_text="Name in private document storage.")
    sha256 = models.CharField(max_length=64, blank=True)
    size_bytes = models.PositiveIntegerField(null=True, blank=True)
    page_count = models.PositiveSmallIntegerField(null=True, blank=True)

    attempts = models.PositiveSmallIntegerField(default=0)
    # While PENDING: the last failure, which may clear by itself (the sweeper tries again); when FAILED, why not.
    last_error = models.CharField(max_length=500, blank=True)
    enqueued_at = models.DateTimeField(null=True, blank=True, help_text="When it was last sent to the worker.")
    # Set by the run rendering it, cleared when that run ends: a run that holds it past the stale threshold died.
    claimed_at = models.DateTimeField(null=True, blank=True)
    # Set when the stored file failed its checksum: it is being rebuilt from the signed record as it was made for.
    rebuild_requested_at = models.DateTimeField(null=True, blank=True)
    checksum_checked_at = models.DateTimeField(null=True, blank=True, help_text="When its file was last verified.")
    created_at = models.DateTimeField(auto_now_add=True)
    ready_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "kind"]
        indexes = [
            models.Index(fields=["status", "enqueued_at"], name="document_pending_sweep"),
            models.Index(fields=["patient", "-created_at"], name="document_patient_recent"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["session", "kind", "version"], name="document_version_once"),
            # One current version of each document of a visit: what the patient downloads is never ambiguous.
            models.UniqueConstraint(
                fields=["session", "kind"], condition=Q(superseded_at__isnull=True), name="document_one_current"
            ),
            models.CheckConstraint(
                condition=~Q(status=DocumentStatus.READY)
                | (~Q(file_name="") & ~Q(sha256="") & Q(size_bytes__isnull=False)),
                name="document_ready_has_file",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} v{self.version} for session {self.session_id}"

    @property
    def is_current(self) -> bool:
        return self.superseded_at is None

    @property
    def is_rebuilding(self) -> bool:
        return self.status == DocumentStatus.PENDING and self.rebuild_requested_at is not None


class DocumentDownload(models.Model):
    """Who downloaded which document, and when (also refused attempts on a tampered file)."""

    document = models.ForeignKey(Document, on_delete=models.PROTECT, related_name="downloads")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    downloaded_at = models.DateTimeField(auto_now_add=True)
    checksum_ok = models.BooleanField(default=True)

    class Meta:
        ordering = ["-downloaded_at"]

    def __str__(self) -> str:
        return f"{self.user_id} downloaded document {self.document_id} at {self.downloaded_at:%d/%m/%Y %H:%M}"


class AftercareText(models.Model):
    """The aftercare sheet's wording, edited by managers in the admin; the newest row is used."""

    what_is_normal = models.TextField(help_text="Plain text; one point per line.")
    what_to_do = models.TextField(help_text="Plain text; one point per line.")
    red_flags = models.TextField(help_text="Plain text; one point per line.")
    when_to_call = models.TextField(help_text="Whom to call and when.")
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-updated_at"]
        verbose_name = "aftercare wording"
        verbose_name_plural = "aftercare wording"

    def __str__(self) -> str:
        return f"Aftercare wording of {self.updated_at:%d/%m/%Y}"
