from decimal import Decimal

from django.conf import settings
from django.contrib.postgres.indexes import OpClass
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Upper

from assessments.models import PGIC, score_in_range
from patients.models import EARLIEST_BIRTH_DATE, EARLIEST_MOMENT, Condition, Patient, PatientConsent
from pit_portal.history import track_changes
from treatments.outcomes import PainChange, pain_change

MAX_SESSIONS_PER_COURSE = 20
MAX_INTERVAL_DAYS = 90
MAX_POINTS_PER_SITE = 40
MAX_VOLUME_PER_POINT_ML = Decimal("2.0")
MAX_DEXTROSE_PERCENT = Decimal("25")
MAX_LIDOCAINE_PERCENT = Decimal("1")
MAX_MANNITOL_PERCENT = Decimal("10")


class CourseStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    COMPLETED = "completed", "Completed"
    DISCONTINUED = "discontinued", "Discontinued"


class StopReason(models.TextChoices):
    """Why a course was discontinued: a short list, so the clinic can count who stopped and why."""

    RESOLVED = "resolved", "Pain resolved"
    NO_BENEFIT = "no_benefit", "No benefit"
    ADVERSE_EVENT = "adverse_event", "Adverse event"
    PATIENT_CHOICE = "patient_choice", "Patient's choice"
    LOST_TO_FOLLOW_UP = "lost_to_follow_up", "Lost to follow-up"
    OTHER = "other", "Other"


@track_changes()
class TreatmentCourse(models.Model):
    """A planned series of PIT sessions for one condition, e.g. 6 sessions a week apart."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="courses")
    condition = models.ForeignKey(Condition, on_delete=models.PROTECT, related_name="+")
    planned_sessions = models.PositiveSmallIntegerField(default=6)
    interval_days = models.PositiveSmallIntegerField("interval (days)", default=7)
    status = models.CharField(max_length=12, choices=CourseStatus.choices, default=CourseStatus.ACTIVE)
    stop_reason = models.CharField("reason for stopping", max_length=20, choices=StopReason.choices, blank=True)
    discontinued_reason = models.CharField("details", max_length=500, blank=True)
    closed_on = models.DateField(null=True, blank=True)
    final_pgic = models.PositiveSmallIntegerField(
        "impression of change at the end", choices=PGIC.choices, null=True, blank=True
    )
    baseline_assessment = models.ForeignKey(
        "assessments.Assessment", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    started_on = models.DateField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-started_on", "-id"]
        # The outcomes report reads the courses started in a period.
        indexes = [models.Index(fields=["started_on"], name="course_started_on")]
        constraints = [
            models.CheckConstraint(
                condition=Q(planned_sessions__gte=1, planned_sessions__lte=MAX_SESSIONS_PER_COURSE),
                name="course_planned_sessions_in_range",
            ),
            models.CheckConstraint(
                condition=Q(interval_days__gte=1, interval_days__lte=MAX_INTERVAL_DAYS),
                name="course_interval_in_range",
            ),
            models.CheckConstraint(
                condition=Q(status=CourseStatus.DISCONTINUED, stop_reason__gt="")
                | (~Q(status=CourseStatus.DISCONTINUED) & Q(stop_reason="")),
                name="course_stop_reason_when_discontinued",
            ),
            models.CheckConstraint(
                condition=~Q(stop_reason=StopReason.OTHER) | ~Q(discontinued_reason=""),
                name="course_other_reason_explained",
            ),
            models.CheckConstraint(
                condition=Q(status=CourseStatus.ACTIVE, closed_on__isnull=True, final_pgic__isnull=True)
                | (~Q(status=CourseStatus.ACTIVE) & Q(closed_on__isnull=False, closed_on__gte=F("started_on"))),
                name="course_closed_on_when_closed",
            ),
            score_in_range("final_pgic", 1, 7),
            # No record of a living patient is older; the patient's own birth date is checked by a trigger.
            models.CheckConstraint(condition=Q(started_on__gte=EARLIEST_BIRTH_DATE), name="course_started_after_1900"),
        ]

    def __str__(self) -> str:
        return f"{self.condition} course from {self.started_on:%d/%m/%Y}"

    @property
    def is_active(self) -> bool:
        return self.status == CourseStatus.ACTIVE


class Diluent(models.TextChoices):
    WATER = "water", "Sterile water"
    SALINE = "saline", "Sodium chloride 0.9%"


class Additive(models.TextChoices):
    NONE = "none", "None"
    LIDOCAINE = "lidocaine", "Lidocaine"
    MANNITOL = "mannitol", "Mannitol"


class Technique(models.TextChoices):
    SUBCUTANEOUS = "subcutaneous", "Superficial subcutaneous"
    ULTRASOUND = "ultrasound", "Ultrasound-guided"


class NeedleGauge(models.TextChoices):
    G25 = "25G", "25G"
    G27 = "27G", "27G"
    G30 = "30G", "30G"
    G31 = "31G", "31G"
    G32 = "32G", "32G"


class SiteSide(models.TextChoices):
    LEFT = "left", "Left"
    RIGHT = "right", "Right"
    MIDLINE = "midline", "Midline"


@track_changes()
class InjectionSession(models.Model):
    """One PIT session note: drafted, then signed, after which the database refuses any change."""

    course = models.ForeignKey(TreatmentCourse, on_delete=models.PROTECT, related_name="sessions")
    number = models.PositiveSmallIntegerField()
    performed_at = models.DateTimeField()
    clinician = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    consent = models.ForeignKey(PatientConsent, on_delete=models.PROTECT, related_name="+")

    pre_nrs = models.PositiveSmallIntegerField("pain before (0-10)", null=True, blank=True)
    post_nrs = models.PositiveSmallIntegerField("pain after (0-10)", null=True, blank=True)

    dextrose_percent = models.DecimalField("dextrose %", max_digits=4, decimal_places=1, default=Decimal("5.0"))
    diluent = models.CharField(max_length=10, choices=Diluent.choices, default=Diluent.WATER)
    buffered = models.BooleanField(default=False)
    additive = models.CharField(max_length=10, choices=Additive.choices, default=Additive.NONE)
    additive_percent = models.DecimalField("additive %", max_digits=4, decimal_places=2, null=True, blank=True)
    lot_number = models.CharField("product lot", max_length=40)
    lot_expiry = models.DateField("lot expiry")
    technique = models.CharField(max_length=15, choices=Technique.choices, default=Technique.SUBCUTANEOUS)
    needle_gauge = models.CharField(max_length=4, choices=NeedleGauge.choices, default=NeedleGauge.G27)

    aftercare_given = models.BooleanField(default=False)
    next_interval_days = models.PositiveSmallIntegerField("next session in (days)", null=True, blank=True)
    notes = models.TextField(max_length=4000, blank=True)
    alert_override_reason = models.TextField(max_length=1000, blank=True)

    signed_at = models.DateTimeField(null=True, blank=True)
    signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    content_sha256 = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["course", "number"]
        permissions = [
            ("sign_injectionsession", "Can sign injection session notes"),
            ("recall_lot", "Can list the patients injected from a product lot"),
        ]
        indexes = [
            models.Index(fields=["performed_at"], name="session_performed_at"),
            # Lot recall (treatments.lots) matches the lot case-insensitively, exactly or by its first characters:
            # text_pattern_ops serves both "=" and LIKE 'ABC%' whatever the database's collation.
            models.Index(OpClass(Upper("lot_number"), name="text_pattern_ops"), name="session_lot_number"),
            # The outcomes report reads each course's signed sessions from this index alone (an index-only scan):
            # how many, who signed the first, the newest pain score, and their ids to find the nerves injected.
            models.Index(
                fields=["course", "performed_at"],
                include=["id", "clinician", "pre_nrs"],
                condition=Q(signed_at__isnull=False),
                name="session_signed_by_course",
            ),
        ]
        constraints = [
            models.UniqueConstraint(fields=["course", "number"], name="session_number_once_per_course"),
            models.CheckConstraint(condition=Q(number__gte=1), name="session_number_positive"),
            models.CheckConstraint(condition=Q(performed_at__gte=EARLIEST_MOMENT), name="session_performed_after_1900"),
            score_in_range("pre_nrs", 0, 10),
            score_in_range("post_nrs", 0, 10),
            score_in_range("next_interval_days", 1, MAX_INTERVAL_DAYS),
            models.CheckConstraint(
                condition=Q(post_nrs__isnull=True) | Q(pre_nrs__isnull=False), name="session_post_nrs_needs_pre"
            ),
            models.CheckConstraint(
                condition=Q(dextrose_percent__gt=0, dextrose_percent__lte=MAX_DEXTROSE_PERCENT),
                name="session_dextrose_in_range",
            ),
            models.CheckConstraint(
                condition=Q(additive=Additive.NONE, additive_percent__isnull=True)
                | Q(additive=Additive.LIDOCAINE, additive_percent__gt=0, additive_percent__lte=MAX_LIDOCAINE_PERCENT)
                | Q(additive=Additive.MANNITOL, additive_percent__gt=0, additive_percent__lte=MAX_MANNITOL_PERCENT),
                name="session_additive_percent_in_range",
            ),
            models.CheckConstraint(
                condition=Q(signed_at__isnull=True, signed_by__isnull=True, content_sha256="")
                | (Q(signed_at__isnull=False, signed_by__isnull=False) & ~Q(content_sha256="")),
                name="session_signature_complete",
            ),
        ]

    def __str__(self) -> str:
        return f"Session {self.number} of {self.course.planned_sessions}"

    def full_clean(self, exclude=None, validate_unique=True, validate_constraints=True):
        """Model validation without a query: the course, clinician and consent are rows the note was built from
        (they exist), and the CHECK constraints are the database's; the session form refuses each value they
        refuse, with a message of its own."""
        exclude = {*(exclude or ()), "course", "clinician", "consent"}
        super().full_clean(exclude=exclude, validate_unique=validate_unique, validate_constraints=False)

    @property
    def is_signed(self) -> bool:
        return self.signed_at is not None

    @property
    def immediate_change(self) -> PainChange | None:
        """From pain before the injection to pain shortly after, with its direction; None without both scores."""
        return pain_change(self.pre_nrs, self.post_nrs)

    @property
    def solution_description(self) -> str:
        parts = [f"Dextrose {self.dextrose_percent.normalize():f}% in {self.get_diluent_display().lower()}"]
        if self.additive != Additive.NONE and self.additive_percent is not None:
            parts.append(f"with {self.get_additive_display().lower()} {self.additive_percent.normalize():f}%")
        if self.buffered:
            parts.append("buffered")
        return ", ".join(parts)

    @property
    def total_volume_ml(self) -> Decimal:
        """Derived, never typed: points x volume per point over all sites (uses prefetched sites)."""
        return sum((site.total_volume_ml for site in self.sites.all()), Decimal("0"))

    @property
    def total_points(self) -> int:
        return sum(site.points for site in self.sites.all())


@track_changes()
class InjectionSite(models.Model):
    session = models.ForeignKey(InjectionSession, on_delete=models.CASCADE, related_name="sites")
    nerve = models.ForeignKey("assessments.Nerve", on_delete=models.PROTECT, related_name="+")
    side = models.CharField(max_length=10, choices=SiteSide.choices)
    points = models.PositiveSmallIntegerField("injection points")
    volume_per_point_ml = models.DecimalField("mL per point", max_digits=4, decimal_places=2)

    class Meta:
        ordering = ["id"]
        # The nerves each session injected, read without the table (the outcomes report's "by nerve").
        indexes = [models.Index(fields=["session", "nerve"], name="site_session_nerve")]
        constraints = [
            models.CheckConstraint(
                condition=Q(points__gte=1, points__lte=MAX_POINTS_PER_SITE), name="site_points_in_range"
            ),
            models.CheckConstraint(
                condition=Q(volume_per_point_ml__gt=0, volume_per_point_ml__lte=MAX_VOLUME_PER_POINT_ML),
                name="site_volume_in_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.nerve} ({self.side}): {self.points} x {self.volume_per_point_ml} mL"

    def full_clean(self, exclude=None, validate_unique=True, validate_constraints=True):
        """Model validation without a query per site: the nerve is one of those read for the form (it exists),
        and the CHECK constraints are the database's; the site form refuses each value they refuse."""
        exclude = {*(exclude or ()), "session", "nerve"}
        super().full_clean(exclude=exclude, validate_unique=validate_unique, validate_constraints=False)

    @property
    def total_volume_ml(self) -> Decimal:
        return self.points * self.volume_per_point_ml


class AdverseEventKind(models.TextChoices):
    BRUISING = "bruising", "Bruising"
    SITE_PAIN = "site_pain", "Injection-site pain"
    VASOVAGAL = "vasovagal", "Vasovagal reaction"
    ALLERGIC = "allergic", "Allergic reaction"
    INFECTION = "infection", "Infection"
    OTHER = "other", "Other"


class Severity(models.TextChoices):
    MILD = "mild", "Mild"
    MODERATE = "moderate", "Moderate"
    SEVERE = "severe", "Severe"


@track_changes()
class AdverseEvent(models.Model):
    session = models.ForeignKey(InjectionSession, on_delete=models.CASCADE, related_name="adverse_events")
    kind = models.CharField(max_length=12, choices=AdverseEventKind.choices)
    severity = models.CharField(max_length=10, choices=Severity.choices)
    note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.severity})"


@track_changes()
class SessionAddendum(models.Model):
    """A correction or later note under a signed session; the original stays as it was signed."""

    session = models.ForeignKey(InjectionSession, on_delete=models.PROTECT, related_name="addenda")
    text = models.TextField(max_length=4000)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name_plural = "session addenda"
        constraints = [models.CheckConstraint(condition=~Q(text=""), name="addendum_text_not_blank")]

    def __str__(self) -> str:
        return f"Addendum to session {self.session_id} by {self.author_id}"
