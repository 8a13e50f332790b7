"""How long a patient's signed clinical record must be kept, and so from when an erasure request can be met.

The clinic sets the period (settings.RECORD_RETENTION_YEARS, 8 by default): the record is kept that many years
after the patient's last visit. For a patient who was under 18 at the last visit it is also kept until their 25th
birthday, or their 26th if they were 17 then (the NHS records code's rule for children), whichever of the two is
later. The last visit is the latest of the patient's signed session notes (performed), assessments and attended
appointments (arrived, in treatment or completed, not future): the days they were seen. Unsigned drafts, cancelled
appointments and no-shows are not visits.
"""

from dataclasses import dataclass
from datetime import date, datetime

from django.conf import settings
from django.db.models import DateTimeField, OuterRef, Subquery
from django.db.models.functions import Greatest, Now
from django.utils import timezone

from assessments.models import Assessment
from patients.models import Patient
from scheduling.models import Appointment, AppointmentStatus
from treatments.models import InjectionSession

ATTENDED = (AppointmentStatus.ARRIVED, AppointmentStatus.IN_TREATMENT, AppointmentStatus.COMPLETED)
ADULT_AGE = 18
# A child's record is kept until this birthday, or one later when they were 17 at the last visit.
CHILD_KEPT_UNTIL_BIRTHDAY = 25


def add_years(day: date, years: int) -> date:
    """The same day `years` later; 29 February becomes 28 February in a year without it."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def age_on(born: date, day: date) -> int:
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


@dataclass(frozen=True)
class Retention:
    """The patient's last visit (None: never seen) and the last day their record must be kept (None: nothing to
    keep, as no visit is on record)."""

    last_visit: date | None
    until: date | None
    years: int
    birthday: int | None  # for a patient who was a minor at the last visit, the birthday it is kept until

    def is_over(self, today: date) -> bool:
        return self.until is None or today > self.until

    @property
    def reason(self) -> str:
        """Why an erasure before `until` is refused, in words the patient can be told."""
        if self.until is None or self.last_visit is None:
            return "No visit is on record, so no signed clinical record has to be kept."
        visit = f"{self.last_visit:%-d %B %Y}"
        if self.birthday is not None and self.until != add_years(self.last_visit, self.years):
            why = f"their {self.birthday}th birthday, as they were under {ADULT_AGE} at the last visit on {visit}"
        else:
            why = f"{self.years} years after the last visit on {visit}"
        return f"Signed clinical records must be kept until {self.until:%-d %B %Y} ({why})."


def _latest(rows, moment: str) -> Subquery:
    return Subquery(rows.order_by(f"-{moment}").values(moment)[:1], output_field=DateTimeField())


def last_visit_at(patient_id: int) -> datetime | None:
    """The moment of the patient's last visit, or None: one query (three subqueries; PostgreSQL's GREATEST skips
    the ones that found nothing)."""
    sessions = InjectionSession.objects.filter(course__patient=OuterRef("pk"), signed_at__isnull=False)
    assessments = Assessment.objects.filter(patient=OuterRef("pk"))
    attended = Appointment.objects.filter(patient=OuterRef("pk"), status__in=ATTENDED, starts_at__lte=Now())
    latest = Greatest(
        _latest(sessions, "performed_at"), _latest(assessments, "assessed_at"), _latest(attended, "starts_at")
    )
    return Patient.objects.filter(pk=patient_id).annotate(latest=latest).values_list("latest", flat=True).first()


def retention_of(patient: Patient) -> Retention:
    """The patient's retention, from their last visit and date of birth: one query."""
    years = settings.RECORD_RETENTION_YEARS
    moment = last_visit_at(patient.pk)
    if moment is None:
        return Retention(last_visit=None, until=None, years=years, birthday=None)
    last_visit = timezone.localdate(moment)
    until = add_years(last_visit, years)
    age = age_on(patient.date_of_birth, last_visit)
    if age >= ADULT_AGE:
        return Retention(last_visit=last_visit, until=until, years=years, birthday=None)
    birthday = CHILD_KEPT_UNTIL_BIRTHDAY + (1 if age == ADULT_AGE - 1 else 0)
    until = max(until, add_years(patient.date_of_birth, birthday))
    return Retention(last_visit=last_visit, until=until, years=years, birthday=birthday)


def retained_until(patient: Patient) -> date | None:
    """The last day the patient's signed clinical record must be kept; None when no visit is on record (nothing
    to keep). One query."""
    return retention_of(patient).until
