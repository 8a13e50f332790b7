from collections.abc import Iterable
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from assessments.bodymap import region_label
from assessments.scores import DN4, Reading
from patients.models import EARLIEST_MOMENT, Condition, Patient
from pit_portal.history import track_changes


def score_in_range(field: str, low: int = 0, high: int = 10) -> models.CheckConstraint:
    """A database check that the field is empty or between low and high (0-10 by default)."""
    condition = Q(**{f"{field}__isnull": True}) | Q(**{f"{field}__gte": low, f"{field}__lte": high})
    return models.CheckConstraint(condition=condition, name=f"%(class)s_{field}_in_range")


class Region(models.TextChoices):
    HEAD_NECK = "head_neck", "Head and neck"
    UPPER_LIMB = "upper_limb", "Upper limb"
    TRUNK_BACK = "trunk_back", "Trunk and back"
    LOWER_LIMB = "lower_limb", "Lower limb"


class Side(models.TextChoices):
    LEFT = "left", "Left"
    RIGHT = "right", "Right"
    BILATERAL = "bilateral", "Both sides"
    MIDLINE = "midline", "Midline"


class Nerve(models.Model):
    """A superficial nerve (or branch) PIT treats; reference data that managers edit in the admin."""

    code = models.SlugField(max_length=60, unique=True)
    name = models.CharField(max_length=120, unique=True)
    region = models.CharField(max_length=20, choices=Region.choices)
    sort_order = models.PositiveSmallIntegerField(default=0)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["region", "sort_order", "name"]

    def __str__(self) -> str:
        return self.name


def grouped_nerve_choices(nerves: Iterable[Nerve]) -> list:
    """The nerves grouped by body region, for a select with one optgroup per region."""
    grouped: dict[str, list] = {}
    for nerve in nerves:
        grouped.setdefault(Region(nerve.region).label, []).append((nerve.pk, nerve.name))
    return [("", "---------"), *grouped.items()]


def nerve_choices() -> list:
    """Active nerves grouped by body region."""
    return grouped_nerve_choices(Nerve.objects.filter(active=True))


class AssessmentKind(models.TextChoices):
    INITIAL = "initial", "First assessment"
    REVIEW = "review", "Review"


class PGIC(models.IntegerChoices):
    """Patient Global Impression of Change, the usual seven points."""

    VERY_MUCH_IMPROVED = 1, "Very much improved"
    MUCH_IMPROVED = 2, "Much improved"
    MINIMALLY_IMPROVED = 3, "Minimally improved"
    NO_CHANGE = 4, "No change"
    MINIMALLY_WORSE = 5, "Minimally worse"
    MUCH_WORSE = 6, "Much worse"
    VERY_MUCH_WORSE = 7, "Very much worse"


# The ten DN4 items, in the questionnaire's order: (field name, wording shown to the clinician).
DN4_ITEMS = [
    ("dn4_burning", "Pain has a burning quality"),
    ("dn4_painful_cold", "Pain feels like painful cold"),
    ("dn4_electric_shocks", "Pain feels like electric shocks"),
    ("dn4_tingling", "Tingling in the painful area"),
    ("dn4_pins_and_needles", "Pins and needles"),
    ("dn4_numbness", "Numbness"),
    ("dn4_itching", "Itching"),
    ("dn4_touch_hypoaesthesia", "Reduced feeling to touch on examination"),
    ("dn4_pinprick_hypoaesthesia", "Reduced feeling to pinprick on examination"),
    ("dn4_brushing_allodynia", "Brushing the skin causes or increases pain"),
]


@track_changes()
class Assessment(models.Model):
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="assessments")
    # A review belongs to the course it reviews; a first assessment may start one.
    course = models.ForeignKey(
        "treatments.TreatmentCourse", null=True, blank=True, on_delete=models.PROTECT, related_name="assessments"
    )
    kind = models.CharField(max_length=10, choices=AssessmentKind.choices, default=AssessmentKind.INITIAL)
    assessed_at = models.DateTimeField()
    clinician = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    presenting_complaint = models.TextField(max_length=2000)
    condition = models.ForeignKey(Condition, on_delete=models.PROTECT, related_name="+")
    side = models.CharField(max_length=10, choices=Side.choices)
    duration_months = models.PositiveSmallIntegerField("duration (months)", null=True, blank=True)
    aggravating_factors = models.TextField(max_length=2000, blank=True)

    nrs_current = models.PositiveSmallIntegerField("pain now (0-10)")
    nrs_worst = models.PositiveSmallIntegerField("worst pain, last week (0-10)")
    nrs_average = models.PositiveSmallIntegerField("average pain, last week (0-10)")
    peg_pain = models.PositiveSmallIntegerField("average pain, last week (0-10)")
    peg_enjoyment = models.PositiveSmallIntegerField("pain interfered with enjoyment of life (0-10)")
    peg_activity = models.PositiveSmallIntegerField("pain interfered with general activity (0-10)")
    dn4_burning = models.BooleanField(default=False)
    dn4_painful_cold = models.BooleanField(default=False)
    dn4_electric_shocks = models.BooleanField(default=False)
    dn4_tingling = models.BooleanField(default=False)
    dn4_pins_and_needles = models.BooleanField(default=False)
    dn4_numbness = models.BooleanField(default=False)
    dn4_itching = models.BooleanField(default=False)
    dn4_touch_hypoaesthesia = models.BooleanField(default=False)
    dn4_pinprick_hypoaesthesia = models.BooleanField(default=False)
    dn4_brushing_allodynia = models.BooleanField(default=False)
    pgic = models.PositiveSmallIntegerField("impression of change", choices=PGIC.choices, null=True, blank=True)

    proposed_sessions = models.PositiveSmallIntegerField(null=True, blank=True)
    proposed_interval_days = models.PositiveSmallIntegerField("interval (days)", null=True, blank=True)
    plan_notes = models.TextField("plan", max_length=2000, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-assessed_at"]
        indexes = [models.Index(fields=["patient", "-assessed_at"], name="assessment_patient_time")]
        constraints = [
            score_in_range("nrs_current"),
            score_in_range("nrs_worst"),
            score_in_range("nrs_average"),
            score_in_range("peg_pain"),
            score_in_range("peg_enjoyment"),
            score_in_range("peg_activity"),
            score_in_range("pgic", 1, 7),
            score_in_range("proposed_sessions", 1, 20),
            score_in_range("proposed_interval_days", 1, 90),
            score_in_range("duration_months", 0, 1200),
            models.CheckConstraint(
                condition=Q(kind=AssessmentKind.REVIEW) | Q(pgic__isnull=True),
                name="assessment_pgic_only_at_review",
            ),
            models.CheckConstraint(condition=Q(assessed_at__gte=EARLIEST_MOMENT), name="assessment_after_1900"),
            # The PEG's pain item asks what the NRS average asks: one answer, kept in both columns.
            models.CheckConstraint(condition=Q(peg_pain=F("nrs_average")), name="assessment_peg_pain_is_nrs_average"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} of {self.patient.full_name}, {self.assessed_at:%d/%m/%Y}"

    @property
    def peg_score(self) -> Decimal:
        """PEG-3: the mean of its three items, to one decimal place."""
        total = self.peg_pain + self.peg_enjoyment + self.peg_activity
        return (Decimal(total) / 3).quantize(Decimal("0.1"))

    @property
    def dn4_score(self) -> int:
        return sum(getattr(self, field) for field, _ in DN4_ITEMS)

    @property
    def dn4_reading(self) -> Reading:
        """The DN4 score read against its cut-off, whichever side of it the score falls."""
        return DN4.reading(self.dn4_score)

    @property
    def dn4_positive(self) -> bool:
        return self.dn4_reading.reaches_cut_off

    def psfs_score(self, activities=None) -> Decimal | None:
        """PSFS: the mean of the activity scores; pass prefetched activities to save a query."""
        scores = [activity.score for activity in (activities if activities is not None else self.activities.all())]
        if not scores:
            return None
        return (Decimal(sum(scores)) / len(scores)).quantize(Decimal("0.1"))


@track_changes()
class PainArea(models.Model):
    """A region marked on the body map: where it hurts, how much, and whether it is tender to touch."""

    assessment = models.ForeignKey(Assessment, on_delete=models.CASCADE, related_name="pain_areas")
    region = models.CharField(max_length=30)
    intensity = models.PositiveSmallIntegerField()
    tender = models.BooleanField(default=False)
    note = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            score_in_range("intensity"),
            models.UniqueConstraint(fields=["assessment", "region"], name="painarea_region_once"),
        ]

    def __str__(self) -> str:
        return f"{self.region}: {self.intensity}/10"

    @property
    def label(self) -> str:
        return region_label(self.region)


@track_changes()
class FunctionalActivity(models.Model):
    """A PSFS activity the patient names, scored 0 (unable) to 10 (as before the problem)."""

    assessment = models.ForeignKey(Assessment, on_delete=models.CASCADE, related_name="activities")
    activity = models.CharField(max_length=120)
    score = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["id"]
        constraints = [score_in_range("score")]

    def __str__(self) -> str:
        return f"{self.activity}: {self.score}/10"


@track_changes()
class AnalgesicUse(models.Model):
    """Pain medication taken at the time of the assessment, to follow use over a course."""

    assessment = models.ForeignKey(Assessment, on_delete=models.CASCADE, related_name="analgesics")
    drug = models.CharField(max_length=120)
    dose = models.CharField(max_length=60)
    doses_per_week = models.DecimalField(max_digits=5, decimal_places=1)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(doses_per_week__gte=0, doses_per_week__lte=100), name="analgesicuse_doses_in_range"
            )
        ]

    def __str__(self) -> str:
        return f"{self.drug} {self.dose}, {self.doses_per_week} a week"


@track_changes()
class ContributingNerve(models.Model):
    """A nerve the clinician judges to contribute to the pain."""

    assessment = models.ForeignKey(Assessment, on_delete=models.CASCADE, related_name="nerves")
    nerve = models.ForeignKey(Nerve, on_delete=models.PROTECT, related_name="+")
    side = models.CharField(max_length=10, choices=Side.choices)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["assessment", "nerve", "side"], name="contributingnerve_once"),
        ]

    def __str__(self) -> str:
        return f"{self.nerve} ({self.side})"
