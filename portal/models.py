import hashlib
import secrets
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from patients.models import Patient

INVITE_TOKEN_BYTES = 32


class PatientInvite(models.Model):
    """A single-use, expiring link that lets a patient create their own sign-in.

    Only a SHA-256 of the token is stored: a leaked database row cannot be used as an invite."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="invites")
    token_sha256 = models.CharField(max_length=64, unique=True)
    email = models.EmailField()
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(expires_at__gt=models.F("created_at")), name="invite_expires_later")
        ]

    def __str__(self) -> str:
        return f"Invite for patient {self.patient_id}, expires {self.expires_at:%d/%m/%Y %H:%M}"

    @property
    def is_open(self) -> bool:
        """Not used, not revoked and not expired: the emailed link would still work."""
        return self.used_at is None and self.revoked_at is None and self.expires_at > timezone.now()

    @staticmethod
    def new_token() -> str:
        return secrets.token_urlsafe(INVITE_TOKEN_BYTES)

    @staticmethod
    def digest(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()


class CheckIn(models.Model):
    """What the patient tells the clinic before a session; shown on the clinician's session form."""

    appointment = models.OneToOneField("scheduling.Appointment", on_delete=models.CASCADE, related_name="check_in")
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="check_ins")
    nrs_now = models.PositiveSmallIntegerField("pain now (0-10)")
    peg_pain = models.PositiveSmallIntegerField("average pain, past week (0-10)")
    peg_enjoyment = models.PositiveSmallIntegerField("pain interfered with enjoyment of life (0-10)")
    peg_activity = models.PositiveSmallIntegerField("pain interfered with general activity (0-10)")
    analgesic_doses_per_week = models.DecimalField(
        "pain medication doses in the past week", max_digits=5, decimal_places=1
    )
    new_infection = models.BooleanField("an infection, wound or rash near the treated area", default=False)
    new_medication = models.BooleanField("a new medication since the last visit", default=False)
    new_medication_details = models.CharField("which new medication", max_length=200, blank=True)
    # The precautions of the medical background (patients.Intake) that can change between visits.
    new_blood_thinner = models.BooleanField("a new blood thinner (anticoagulant)", default=False)
    pregnant = models.BooleanField("pregnant or breastfeeding", default=False)
    new_allergy = models.BooleanField("a new allergy since the last visit", default=False)
    new_allergy_details = models.CharField("what the new allergy is to", max_length=200, blank=True)
    new_problems = models.TextField("anything else the clinician should know", max_length=1000, blank=True)
    submitted_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-submitted_at"]
        # Held by the patient role: lets templates tell a patient's session apart without a query.
        permissions = [("use_portal", "Can use the patient portal")]
        constraints = [
            models.CheckConstraint(
                condition=Q(nrs_now__lte=10, peg_pain__lte=10, peg_enjoyment__lte=10, peg_activity__lte=10),
                name="checkin_scores_in_range",
            ),
            models.CheckConstraint(
                condition=Q(analgesic_doses_per_week__gte=0, analgesic_doses_per_week__lte=100),
                name="checkin_doses_in_range",
            ),
        ]

    def __str__(self) -> str:
        return f"Check-in for appointment {self.appointment_id}"

    @property
    def has_news_for_medical_background(self) -> bool:
        """The patient reported something the medical background (patients.Intake) should hold from now on."""
        return self.new_medication or self.new_blood_thinner or self.new_allergy or self.pregnant

    @property
    def peg_score(self) -> Decimal:
        """PEG-3 is the mean of its three items (Krebs et al. 2009), to one decimal."""
        total = Decimal(self.peg_pain + self.peg_enjoyment + self.peg_activity)
        return (total / 3).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


class CopyStatus(models.TextChoices):
    PENDING = "pending", "Waiting to be prepared"
    BUILDING = "building", "Being prepared"
    READY = "ready", "Ready to download"
    FAILED = "failed", "Could not be prepared"
    EXPIRED = "expired", "Expired"


# Asked for and not yet finished: a patient has at most one (record_copy_one_open).
OPEN_COPY = (CopyStatus.PENDING, CopyStatus.BUILDING)


class RecordCopy(models.Model):
    """A patient's own copy of their record (portal.record_copy): asked for in the portal, built by the worker into
    a zip in private document storage, downloaded by the patient until it expires, then deleted by the sweeper.

    The row is the source of truth for the work owed: the sweeper sends again a copy left pending, or held past
    the time limit by a worker that died (`claimed_at`)."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="record_copies")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=10, choices=CopyStatus.choices, default=CopyStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    enqueued_at = models.DateTimeField(null=True, blank=True, help_text="When it was last sent to the worker.")
    # Set by the run building it, cleared when that run ends: a run that holds it past the stale threshold died.
    claimed_at = models.DateTimeField(null=True, blank=True)
    # While pending: the last failure, which may clear by itself; when failed, why. Never patient data.
    error = models.CharField(max_length=300, blank=True)
    # Kept after expiry (the file is deleted then, and file_name cleared): what was given, and its checksum.
    file_name = models.CharField(max_length=200, blank=True, help_text="Name in private document storage.")
    sha256 = models.CharField(max_length=64, blank=True)
    size_bytes = models.PositiveBigIntegerField(null=True, blank=True)
    ready_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    downloaded_at = models.DateTimeField(null=True, blank=True, help_text="When it was last downloaded.")
    download_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-requested_at", "-id"]
        verbose_name = "copy of a patient's record"
        verbose_name_plural = "copies of patients' records"
        indexes = [
            models.Index(fields=["status", "enqueued_at"], name="record_copy_sweep"),
            models.Index(fields=["patient", "-requested_at"], name="record_copy_patient_recent"),
        ]
        constraints = [
            # One copy being prepared per patient: asking again shows that one instead of starting another.
            models.UniqueConstraint(fields=["patient"], condition=Q(status__in=OPEN_COPY), name="record_copy_one_open"),
            models.CheckConstraint(
                condition=~Q(status=CopyStatus.READY)
                | (
                    ~Q(file_name="")
                    & ~Q(sha256="")
                    & Q(size_bytes__isnull=False, ready_at__isnull=False, expires_at__isnull=False)
                ),
                name="record_copy_ready_has_file",
            ),
            models.CheckConstraint(
                condition=Q(expires_at__isnull=True) | Q(expires_at__gt=models.F("ready_at")),
                name="record_copy_expires_after_ready",
            ),
            models.CheckConstraint(
                condition=~Q(status=CopyStatus.FAILED) | ~Q(error=""), name="record_copy_failure_explained"
            ),
            models.CheckConstraint(
                condition=Q(status=CopyStatus.BUILDING, claimed_at__isnull=False)
                | (~Q(status=CopyStatus.BUILDING) & Q(claimed_at__isnull=True)),
                name="record_copy_claimed_while_building",
            ),
        ]

    def __str__(self) -> str:
        return f"Record copy {self.pk} for patient {self.patient_id} ({self.get_status_display().lower()})"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_COPY

    def is_downloadable(self, now: datetime | None = None) -> bool:
        """Ready and not yet expired (the sweeper marks it EXPIRED a little later; the time decides)."""
        now = now or timezone.now()
        return self.status == CopyStatus.READY and self.expires_at is not None and self.expires_at > now

    def has_expired(self, now: datetime | None = None) -> bool:
        now = now or timezone.now()
        if self.status == CopyStatus.EXPIRED:
            return True
        return self.status == CopyStatus.READY and self.expires_at is not None and self.expires_at <= now
