"""Read-only selections for the scheduling pages, each a fixed number of queries however many rows."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import BooleanField, DateTimeField, ExpressionWrapper, F, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Cast, Greatest
from django.utils import timezone

from assessments.models import Assessment
from outcomes.models import PatientReport
from patients.models import Patient
from portal.models import CheckIn
from scheduling.models import Appointment, AppointmentStatus
from treatments.models import CourseStatus, InjectionSession, TreatmentCourse
from treatments.queries import courses_due_for_review

# An active course nobody has seen or heard from for this long may have been left: it is marked on the recall list.
LOST_TO_FOLLOW_UP_AFTER = timedelta(weeks=8)


def _last_heard_of(now: datetime):
    """The newest visit (a session, an assessment) or answer (a check-in, a between-visit report) of the course,
    as a subquery each; GREATEST skips the missing ones. The course's start counts when there is nothing yet."""
    newest = {
        InjectionSession.objects.filter(course=OuterRef("pk")).order_by("-performed_at"): "performed_at",
        Assessment.objects.filter(course=OuterRef("pk")).order_by("-assessed_at"): "assessed_at",
        CheckIn.objects.filter(appointment__course=OuterRef("pk")).order_by("-submitted_at"): "submitted_at",
        PatientReport.objects.filter(course=OuterRef("pk")).order_by("-submitted_at"): "submitted_at",
    }
    started = Cast(F("started_on"), DateTimeField())
    return Greatest(started, *(Subquery(rows.values(field)[:1]) for rows, field in newest.items()))


def recall_list(now: datetime | None = None) -> QuerySet[TreatmentCourse]:
    """Active courses needing a call: nothing live in the diary from now on, or due for review.

    One query: the next appointment, the last session and the review count are subqueries. Each course
    carries `next_appointment_at`, `last_session_at`, `sessions_since_review` (None unless due) and
    `lost_to_follow_up` (no visit and no answer for LOST_TO_FOLLOW_UP_AFTER)."""
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
            last_heard_of_at=_last_heard_of(now),
            lost_to_follow_up=ExpressionWrapper(
                Q(last_heard_of_at__lt=now - LOST_TO_FOLLOW_UP_AFTER), output_field=BooleanField()
            ),
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
