import hashlib
import secrets
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
