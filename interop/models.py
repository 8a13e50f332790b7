"""Clinic-wide FHIR bulk exports (interop.bulk): one row per export asked for, its parts while it is built and its
files once it is ready. The rows are the source of truth for the work owed: the sweeper sends again an export
left pending, or held by a worker that stopped moving its claim (`claimed_at`)."""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from outcomes.models import LIVE_EXPORT, ExportStatus

# A resource type as it names a file and a URL: FHIR's own names are letters only (Patient, Observation, ...).
RESOURCE_TYPE_PATTERN = r"^[A-Z][A-Za-z]{0,63}$"


class BulkExport(models.Model):
    """One clinic-wide export in FHIR Bulk Data's layout: every patient on file when its first run started, in id
    order, as one NDJSON file per resource type. Built chunk by chunk: `last_patient_id` is the last patient whose
    resources are in a completed part, so a run that stopped is resumed after it."""

    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=10, choices=ExportStatus.choices, default=ExportStatus.PENDING)
    enqueued_at = models.DateTimeField(null=True, blank=True, help_text="When it was last sent to the worker.")
    # Moved by the run building it after every chunk, cleared when that run ends: a claim not moved for the stale
    # threshold belongs to a worker that died.
    claimed_at = models.DateTimeField(null=True, blank=True)
    # Which run holds it (counted up at each claim): a run writes only while the row still carries its number, and
    # names its parts with it, so two runs never write over each other.
    run = models.PositiveIntegerField(default=0)
    # Runs that ended without handing the export on: a dead worker, or a failure outlasting the task's retries.
    attempts = models.PositiveSmallIntegerField(default=0)
    # Fixed when the first run starts: the patients with an id up to this one are exported (Bulk Data's
    # transactionTime is then); patients registered later are not.
    transaction_time = models.DateTimeField(null=True, blank=True)
    until_patient_id = models.BigIntegerField(null=True, blank=True)
    patients_total = models.PositiveIntegerField(null=True, blank=True)
    patients_done = models.PositiveIntegerField(default=0)
    last_patient_id = models.BigIntegerField(null=True, blank=True)
    chunks_done = models.PositiveIntegerField(default=0)
    # Resources written so far, per type: {"Patient": 120, "Observation": 2400, ...}.
    counts = models.JSONField(default=dict, blank=True)
    # The ids written so far of the resources every patient's record repeats (interop.bulk.services.SHARED_TYPES):
    # {"Practitioner": ["practitioner-4", ...]}. Each is written once per export.
    shared_written = models.JSONField(default=dict, blank=True)
    # While pending: the last failure, which may clear by itself; when failed, why. Never patient data.
    error = models.CharField(max_length=300, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        indexes = [models.Index(fields=["status", "enqueued_at"], name="bulk_export_sweep")]
        constraints = [
            models.CheckConstraint(
                condition=Q(patients_total__isnull=True) | Q(patients_done__lte=F("patients_total")),
                name="bulk_export_progress_within_total",
            ),
            models.CheckConstraint(
                condition=~Q(status=ExportStatus.READY)
                | Q(finished_at__isnull=False, patients_total__isnull=False, transaction_time__isnull=False),
                name="bulk_export_ready_is_finished",
            ),
            models.CheckConstraint(
                condition=~Q(status=ExportStatus.FAILED) | ~Q(error=""), name="bulk_export_failure_explained"
            ),
            models.CheckConstraint(
                condition=Q(status=ExportStatus.RUNNING, claimed_at__isnull=False)
                | (~Q(status=ExportStatus.RUNNING) & Q(claimed_at__isnull=True)),
                name="bulk_export_claimed_while_running",
            ),
            # One clinic-wide export at a time: it reads every record, so a second waits for the first.
            models.UniqueConstraint(
                models.Value(True), condition=Q(status__in=LIVE_EXPORT), name="bulk_export_one_live"
            ),
        ]

    def __str__(self) -> str:
        return f"FHIR bulk export {self.pk} ({self.get_status_display().lower()})"

    @property
    def is_live(self) -> bool:
        return self.status in LIVE_EXPORT

    @property
    def is_ready(self) -> bool:
        return self.status == ExportStatus.READY

    @property
    def progress(self) -> str:
        """How far its runs have got, in patients: "1,200 of 3,400 patients"."""
        if self.patients_total is None:
            return "waiting to start"
        return f"{self.patients_done:,} of {self.patients_total:,} patient{'' if self.patients_total == 1 else 's'}"

    @property
    def resources_total(self) -> int:
        return sum(self.counts.values())


class BulkExportPart(models.Model):
    """One chunk's resources of one type, stored under parts/ until the export's files are put together. Written
    in the transaction that moves the export past the chunk: a part without its row is a leftover, never read."""

    export = models.ForeignKey(BulkExport, on_delete=models.CASCADE, related_name="parts")
    chunk = models.PositiveIntegerField()
    resource_type = models.CharField(max_length=64)
    file_name = models.CharField(max_length=200)
    sha256 = models.CharField(max_length=64)
    size_bytes = models.PositiveBigIntegerField()
    count = models.PositiveIntegerField()

    class Meta:
        ordering = ["export", "resource_type", "chunk"]
        constraints = [
            models.UniqueConstraint(fields=["export", "chunk", "resource_type"], name="bulk_export_part_once"),
            models.CheckConstraint(
                condition=Q(resource_type__regex=RESOURCE_TYPE_PATTERN), name="bulk_export_part_type_is_a_name"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.resource_type} part {self.chunk}"


class BulkExportFile(models.Model):
    """One finished NDJSON file of a ready export: every resource of its type, one per line, with the SHA-256 taken
    while it was stored (checked again on every download)."""

    export = models.ForeignKey(BulkExport, on_delete=models.CASCADE, related_name="files")
    resource_type = models.CharField(max_length=64)
    file_name = models.CharField(max_length=200, help_text="Name in private document storage.")
    sha256 = models.CharField(max_length=64)
    size_bytes = models.PositiveBigIntegerField()
    count = models.PositiveIntegerField()

    class Meta:
        ordering = ["export", "resource_type"]
        constraints = [
            models.UniqueConstraint(fields=["export", "resource_type"], name="bulk_export_file_once"),
            models.CheckConstraint(
                condition=Q(resource_type__regex=RESOURCE_TYPE_PATTERN), name="bulk_export_file_type_is_a_name"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.resource_type}.ndjson"

    @property
    def download_name(self) -> str:
        return f"{self.resource_type}.ndjson"
