"""Read-only selections for the scheduling pages, each a fixed number of queries however many rows."""

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import F, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from patients.models import Patient
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


@dataclass
class PatientAppointments:
    upcoming: list[Appointment] = field(default_factory=list)
    past: list[Appointment] = field(default_factory=list)


def appointments_for_patient(patient: Patient, now: datetime | None = None) -> PatientAppointments:
    """The patient's appointments, cancelled ones included, with their type, clinician and course's condition:
    upcoming soonest first, past latest first. One query."""
    now = now or timezone.now()
    found = PatientAppointments()
    appointments = (
        Appointment.objects.filter(patient=patient)
        .select_related("appointment_type", "clinician", "course__condition")
        .order_by("starts_at", "pk")
    )
    for appointment in appointments:
        (found.upcoming if appointment.ends_at > now else found.past).append(appointment)
    found.past.reverse()
    return found
