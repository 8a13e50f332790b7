"""Dextrose given: by one session note, in its course and over the 30 days before it.

A dextrose strength is weight in volume: p% is p g in 100 mL, so 1 mL of a p% solution holds p / 100 g. A note's
solution has one strength for all its sites, so the note gives

    grams = (sum over its sites of points x mL per point) x dextrose % / 100

e.g. 10 mL of 5% is 0.5 g; 12 points of 0.5 mL of 12.5% is 6 mL, 0.75 g.

The course and 30-day totals count signed notes only (a draft may still change, or never be given), as at the
note: signed notes of the same patient performed at or before it, the 30 days being those before its
performed_at (a note exactly 30 days earlier counts). The note itself is never among them: it is "this note",
added to each total to give the figure with it.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import DecimalField, F, Q, Sum

from treatments.models import InjectionSession, InjectionSite

GRAMS_PER_ML_PER_PERCENT = Decimal("0.01")
RECENT_DAYS = 30
SHOWN_AS = Decimal("0.01")  # grams and mL are shown to 2 decimal places, half up (as the templates' floatformat:2)


@dataclass(frozen=True)
class Dose:
    volume_ml: Decimal = Decimal("0")
    dextrose_g: Decimal = Decimal("0")

    def __add__(self, other: "Dose") -> "Dose":
        return Dose(self.volume_ml + other.volume_ml, self.dextrose_g + other.dextrose_g)


def dextrose_grams(volume_ml: Decimal, dextrose_percent: Decimal) -> Decimal:
    return volume_ml * dextrose_percent * GRAMS_PER_ML_PER_PERCENT


def note_dose(dextrose_percent: Decimal, sites: Iterable[tuple[int, Decimal]]) -> Dose:
    """What one note gives: `sites` are its sites' (points, mL per point)."""
    volume = sum((points * volume_per_point for points, volume_per_point in sites), Decimal("0"))
    return Dose(volume, dextrose_grams(volume, dextrose_percent))


@dataclass(frozen=True)
class DoseSummary:
    """This note's dose and the signed notes' before it: in its course, and over the last RECENT_DAYS days."""

    dextrose_percent: Decimal
    this_note: Dose
    course_signed: Dose
    recent_signed: Dose

    @property
    def course_total(self) -> Dose:
        return self.course_signed + self.this_note

    @property
    def recent_total(self) -> Dose:
        return self.recent_signed + self.this_note


def signed_doses(session: InjectionSession) -> tuple[Dose, Dose]:
    """The dose of the patient's signed notes other than `session`, as at its performed_at: in its course, and over
    the RECENT_DAYS days before it. One query, summed by PostgreSQL over the sites, however many notes there are."""
    at = session.performed_at
    in_course = Q(session__course_id=session.course_id)
    recent = Q(session__performed_at__gte=at - timedelta(days=RECENT_DAYS))
    sites = InjectionSite.objects.filter(
        in_course | recent,
        session__course__patient_id=session.course.patient_id,
        session__signed_at__isnull=False,
        session__performed_at__lte=at,
    )
    if session.pk is not None:
        sites = sites.exclude(session_id=session.pk)
    volume = F("points") * F("volume_per_point_ml")
    grams = volume * F("session__dextrose_percent") * GRAMS_PER_ML_PER_PERCENT
    exact: DecimalField = DecimalField(max_digits=20, decimal_places=5)
    totals = sites.aggregate(
        course_ml=Sum(volume, filter=in_course, output_field=exact),
        course_g=Sum(grams, filter=in_course, output_field=exact),
        recent_ml=Sum(volume, filter=recent, output_field=exact),
        recent_g=Sum(grams, filter=recent, output_field=exact),
    )
    zero = Decimal("0")
    return (
        Dose(totals["course_ml"] or zero, totals["course_g"] or zero),
        Dose(totals["recent_ml"] or zero, totals["recent_g"] or zero),
    )


def dose_summary(session: InjectionSession, sites: Iterable[tuple[int, Decimal]]) -> DoseSummary:
    """`session`'s dose from `sites` (its sites' points and mL per point, as saved or as entered in the form), with
    the signed notes' totals before it (one query)."""
    course_signed, recent_signed = signed_doses(session)
    this_note = note_dose(session.dextrose_percent, sites)
    return DoseSummary(session.dextrose_percent, this_note, course_signed, recent_signed)


def shown(amount: Decimal) -> str:
    """A number of grams or mL as the pages show it: 2 decimal places, half up."""
    return f"{amount.quantize(SHOWN_AS, rounding=ROUND_HALF_UP)}"
