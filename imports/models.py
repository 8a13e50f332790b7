"""A CSV file exported from another practice system, moved into the portal: its bytes, how its columns map onto
the portal's fields, each row's outcome, and which patients and appointments each import made (imports.services
says how an import moves from one status to the next)."""

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.utils import timezone

from patients.models import Patient


class ImportKind(models.TextChoices):
    PATIENTS = "patients", "Patients"
    APPOINTMENTS = "appointments", "Future appointments"


class SourceSystem(models.TextChoices):
    CLINIKO = "cliniko", "Cliniko"
    JANE = "jane", "Jane"
    OTHER = "other", "Another system"


class DateOrder(models.TextChoices):
    DAY_FIRST = "dmy", "Day first (31/12/1980)"
    MONTH_FIRST = "mdy", "Month first (12/31/1980)"
    YEAR_FIRST = "ymd", "Year first (1980-12-31)"


class ImportStatus(models.TextChoices):
    MAPPING = "mapping", "Columns to match"
    CHECKING = "checking", "Checking the rows"
    CHECKED = "checked", "Checked: ready to import"
    IMPORTING = "importing", "Importing"
    DONE = "done", "Imported"
    FAILED = "failed", "Failed"


# The statuses a worker owes work for: the sweeper sends them again when nobody is doing it.
LIVE_IMPORT = (ImportStatus.CHECKING, ImportStatus.IMPORTING)


class CsvImport(models.Model):
    """One uploaded file and its way into the portal. The row is the work owed: a worker checks its rows
    (CHECKING) or imports them (IMPORTING) while it holds the claim (`claimed_at`); the sweeper sends again one left
    pending or held past the stale threshold by a worker that died."""

    kind = models.CharField(max_length=20, choices=ImportKind.choices)
    source_system = models.CharField(max_length=20, choices=SourceSystem.choices)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    uploaded_at = models.DateTimeField(default=timezone.now)
    file_name = models.CharField(max_length=200)
    # The file as uploaded (at most IMPORTS_MAX_FILE_BYTES), so the worker reads exactly what was checked.
    content = models.BinaryField()
    sha256 = models.CharField(max_length=64)
    encoding = models.CharField(max_length=20)
    delimiter = models.CharField(max_length=1, default=",")
    header = ArrayField(models.TextField())
    row_count = models.PositiveIntegerField()
    # Portal field -> the header of the column it is read from; only the fields matched.
    mapping = models.JSONField(default=dict, blank=True)
    date_order = models.CharField(max_length=3, choices=DateOrder.choices, default=DateOrder.DAY_FIRST)
    default_appointment_type = models.ForeignKey(
        "scheduling.AppointmentType", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    status = models.CharField(max_length=12, choices=ImportStatus.choices, default=ImportStatus.MAPPING)
    attempts = models.PositiveSmallIntegerField(default=0)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    # When failed, why; never patient data.
    error = models.CharField(max_length=300, blank=True)
    to_create = models.PositiveIntegerField(null=True, blank=True)
    to_skip = models.PositiveIntegerField(null=True, blank=True)
    created_count = models.PositiveIntegerField(null=True, blank=True)
    skipped_count = models.PositiveIntegerField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-uploaded_at", "-id"]
        indexes = [models.Index(fields=["status", "enqueued_at"], name="csvimport_sweep")]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=LIVE_IMPORT) | Q(claimed_at__isnull=True), name="csvimport_claimed_while_live"
            ),
            models.CheckConstraint(
                condition=~Q(status=ImportStatus.FAILED) | ~Q(error=""), name="csvimport_failure_explained"
            ),
            models.CheckConstraint(
                condition=~Q(status=ImportStatus.DONE) | Q(created_count__isnull=False, skipped_count__isnull=False),
                name="csvimport_done_has_counts",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} import {self.pk} ({self.get_status_display().lower()})"

    @property
    def is_live(self) -> bool:
        return self.status in LIVE_IMPORT


class ImportRow(models.Model):
    """One data row of an import's file, as checked (preview) or imported (report): what it was taken for, why
    it is skipped, and what it made. `number` is the row's number in a spreadsheet (the header is row 1)."""

    csv_import = models.ForeignKey(CsvImport, on_delete=models.CASCADE, related_name="rows")
    number = models.PositiveIntegerField()
    # Who or what the row is about as the file has it (a name and birth date, or a patient and a time).
    label = models.CharField(max_length=300, blank=True)
    problems = ArrayField(models.TextField(), default=list, blank=True)
    patient = models.ForeignKey("patients.Patient", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    appointment = models.ForeignKey(
        "scheduling.Appointment", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["csv_import", "number"]
        constraints = [
            models.UniqueConstraint(fields=["csv_import", "number"], name="importrow_once_per_row"),
            models.CheckConstraint(
                condition=Q(problems=[]) | Q(patient__isnull=True, appointment__isnull=True),
                name="importrow_skipped_made_nothing",
            ),
        ]

    def __str__(self) -> str:
        return f"Row {self.number} of import {self.csv_import_id}"

    @property
    def made(self) -> bool:
        return self.patient_id is not None or self.appointment_id is not None


class ImportedPatient(models.Model):
    """A patient made by an import, under the id the other system gave them: the same id from the same system
    makes nothing new, however often its file is imported."""

    source_system = models.CharField(max_length=20, choices=SourceSystem.choices)
    external_id = models.CharField(max_length=100)
    patient = models.OneToOneField("patients.Patient", on_delete=models.CASCADE, related_name="imported_as")
    csv_import = models.ForeignKey(CsvImport, on_delete=models.PROTECT, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source_system", "external_id"], name="imported_patient_once_per_source")
        ]

    def __str__(self) -> str:
        return f"{self.get_source_system_display()} patient {self.external_id}"


class ImportedAppointment(models.Model):
    """An appointment made by an import, under the other system's id for it (or, when the file has none, the
    patient, clinician and start time it was booked for): imported once."""

    source_system = models.CharField(max_length=20, choices=SourceSystem.choices)
    external_id = models.CharField(max_length=200)
    appointment = models.OneToOneField("scheduling.Appointment", on_delete=models.CASCADE, related_name="imported_as")
    csv_import = models.ForeignKey(CsvImport, on_delete=models.PROTECT, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["source_system", "external_id"], name="imported_appointment_once_per_source"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_source_system_display()} appointment {self.external_id}"


class PatientRow(Patient):
    """A patient as a row of an import makes them: the same table and rules. The registration form validates the
    row; Django's model validation would then ask the database about each CHECK constraint of each row (two
    queries a row), which the form has already checked with its own messages (names given, the birth date in
    range) and which the database enforces anyway at the import's INSERT, where a refusal undoes the whole
    import."""

    class Meta:
        proxy = True

    def validate_constraints(self, exclude=None) -> None:
        return None
