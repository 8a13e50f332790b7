"""Helpers for the follow-up, recall, concurrency and clock-change tests: working weeks, appointment
rows straight into the table, clinic wall-clock times, and a signed session."""

from datetime import date, datetime, time, timedelta

from django.utils import timezone

from accounts.models import Role, User
from scheduling.models import Appointment, AppointmentStatus, AppointmentType, WorkingHours
from tests.factories import CourseFactory, SessionFactory, UserFactory
from treatments.models import InjectionSession, TreatmentCourse

WEEKDAYS = range(5)
EVERY_DAY = range(7)


def pit_type() -> AppointmentType:
    """The data migration's type; a transactional test's flush removes it, so make it again if need be."""
    kind, _ = AppointmentType.objects.get_or_create(
        code="pit-session", defaults={"name": "PIT session", "duration_minutes": 20}
    )
    return kind


def working_week(clinician: User, days=WEEKDAYS, starts: time = time(8), ends: time = time(18)) -> None:
    WorkingHours.objects.bulk_create(
        WorkingHours(clinician=clinician, weekday=day, starts=starts, ends=ends) for day in days
    )


def working_clinician(**fields) -> User:
    clinician = UserFactory(role=Role.CLINICIAN, **fields)
    working_week(clinician)
    return clinician


def at(day: date, hour: int, minute: int = 0) -> datetime:
    """A wall-clock time in the clinic's zone."""
    return timezone.make_aware(datetime.combine(day, time(hour, minute)))


def next_weekday(weekday: int, *, weeks_ahead: int = 1) -> date:
    """A date on that weekday (0 = Monday) at least `weeks_ahead` weeks from today."""
    today = timezone.localdate()
    return today + timedelta(days=(weekday - today.weekday()) % 7 + 7 * weeks_ahead)


def appointment(starts_at: datetime, *, clinician: User, patient=None, course=None, **fields) -> Appointment:
    """Straight into the table, bypassing the booking rules (working hours, the past)."""
    kind = fields.pop("appointment_type", None) or pit_type()
    status = fields.pop("status", AppointmentStatus.BOOKED)
    return Appointment.objects.create(
        patient=patient or course.patient,
        clinician=clinician,
        appointment_type=kind,
        starts_at=starts_at,
        ends_at=starts_at + timedelta(minutes=kind.duration_minutes),
        status=status,
        cancel_reason="Patient asked" if status == AppointmentStatus.CANCELLED else "",
        course=course,
        created_by=clinician,
        **fields,
    )


def signed_session(course: TreatmentCourse, performed_at: datetime, **fields) -> InjectionSession:
    """A session as signed, written directly: the signing rules are the treatments tests' business."""
    session = SessionFactory(course=course, performed_at=performed_at, **fields)
    InjectionSession.objects.filter(pk=session.pk).update(
        signed_at=timezone.now(), signed_by=session.clinician, content_sha256="0" * 64
    )
    session.refresh_from_db()
    return session


def course_for(clinician: User, **fields) -> TreatmentCourse:
    return CourseFactory(created_by=clinician, **fields)
