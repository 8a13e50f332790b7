"""Read-only selections for the scheduling pages, each a fixed number of queries however many rows."""

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import F, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from accounts.shown import shown_name, user_row
from patients.models import Patient
from pit_portal.prepared import PreparedQuery
from scheduling.models import Appointment, AppointmentStatus
from treatments.models import CourseStatus, InjectionSession, TreatmentCourse
from treatments.queries import courses_due_for_review


def recall_list(now: datetime | None = None) -> QuerySet[TreatmentCourse]:
    """Active courses needing a call: nothing live in the diary from now on, or due for review.

    One query: the next appointment, the last session and the review count are subqueries. Each course
    carries `next_appointment_at`, `last_session_at` and `sessions_since_review` (None unless due)."""
    now = now or timezone.now()
    upcoming = (
        Appointment.objects.filter(course=OuterRef("pk"), starts_at__gte=now)
        .exclude(status=AppointmentStatus.CANCELLED)
        .order_by("starts_at")
        .values("starts_at")[:1]
    )
    last_session = InjectionSession.objects.filter(course=OuterRef("pk")).order_by("-performed_at")
    due = courses_due_for_review().filter(pk=OuterRef("pk")).order_by().values("sessions_since_review")[:1]
    return (
        TreatmentCourse.objects.filter(status=CourseStatus.ACTIVE)
        .annotate(
            next_appointment_at=Subquery(upcoming),
            last_session_at=Subquery(last_session.values("performed_at")[:1]),
            sessions_since_review=Subquery(due),
        )
        .filter(Q(next_appointment_at__isnull=True) | Q(sessions_since_review__isnull=False))
        .select_related("patient", "condition")
        # Longest wait first: never seen, then the oldest last session.
        .order_by(F("last_session_at").asc(nulls_first=True), "patient__family_name", "patient__given_name", "pk")
    )


@dataclass(frozen=True)
class AppointmentLine:
    """An appointment as the patient page lists it."""

    pk: int
    starts_at: datetime
    ends_at: datetime
    status: str
    cancel_reason: str
    kind: str  # the appointment type's name
    clinician: str
    course_pk: int | None
    condition: str | None  # the course's

    @property
    def status_label(self) -> str:
        return AppointmentStatus(self.status).label


APPOINTMENT_LINE_COLUMNS = (
    "pk", "starts_at", "ends_at", "status", "cancel_reason", "appointment_type__name", "clinician_row", "course_id",
    "course__condition__name",
)  # fmt: skip


def _patient_appointments(patient_id: int) -> QuerySet[Appointment]:
    # The clinician by id, not joined (accounts.shown).
    return (
        Appointment.objects.filter(patient_id=patient_id)
        .annotate(clinician_row=user_row("clinician_id"))
        .order_by("starts_at", "pk")
        .values_list(*APPOINTMENT_LINE_COLUMNS)
    )


# Four joined tables, read on every patient page: compiled once (pit_portal.prepared).
PATIENT_APPOINTMENTS = PreparedQuery(_patient_appointments)


@dataclass
class PatientAppointments:
    upcoming: list[AppointmentLine] = field(default_factory=list)
    past: list[AppointmentLine] = field(default_factory=list)


def appointments_for_patient(patient: Patient, now: datetime | None = None) -> PatientAppointments:
    """The patient's appointments, cancelled ones included: upcoming soonest first, past latest first.
    One query, of plain rows."""
    now = now or timezone.now()
    found = PatientAppointments()
    for row in PATIENT_APPOINTMENTS.rows(patient.pk):
        pk, starts_at, ends_at, status, reason, kind, clinician_row, course, condition = row
        clinician = shown_name(clinician_row)
        line = AppointmentLine(pk, starts_at, ends_at, status, reason, kind, clinician, course, condition)
        (found.upcoming if ends_at > now else found.past).append(line)
    found.past.reverse()
    return found
