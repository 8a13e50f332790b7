"""Follow-up bookings for a treatment course: the next session at the course's interval, or the rest
of the series at once. A clash or a time outside working hours is resolved with the nearest free slot
(the same day preferred), and every such change is reported, never silently made."""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import partial

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from patients.models import Patient
from scheduling.models import Appointment, AppointmentStatus, AppointmentType, overlapping
from scheduling.services import (
    SEARCH_DAYS,
    SLOT_STEP,
    OutsideWorkingHours,
    Slot,
    SlotTaken,
    _aware,
    appointment_book,
    nearest_free_slots,
    within_working_hours,
)
from treatments.models import MAX_INTERVAL_DAYS, InjectionSession, TreatmentCourse

PIT_SESSION = "pit-session"
MAX_SERIES = 20
# With no session or appointment to count from, the first session is proposed at this time.
DEFAULT_TIME = time(9, 0)
# A no-show did not happen and a cancelled appointment will not: neither is a point to count from.
COUNTED_STATUSES = [
    AppointmentStatus.BOOKED,
    AppointmentStatus.ARRIVED,
    AppointmentStatus.IN_TREATMENT,
    AppointmentStatus.COMPLETED,
]


@dataclass(frozen=True)
class SeriesResult:
    """One occurrence of a series: the time asked for, the appointment made (if any) and what happened."""

    wanted: datetime
    booked: Appointment | None
    note: str = ""

    @property
    def starts_at(self) -> datetime | None:
        return self.booked.starts_at if self.booked else None

    @property
    def moved(self) -> bool:
        return self.starts_at is not None and self.starts_at != self.wanted


@dataclass(frozen=True)
class Anchor:
    """What the next session is counted from."""

    at: datetime | None
    clinician: User
    interval_days: int
    basis: str


@dataclass(frozen=True)
class NextProposal:
    course: TreatmentCourse
    clinician: User
    appointment_type: AppointmentType
    wanted: datetime
    starts_at: datetime | None  # `wanted` when free, else the nearest free slot; None when none was found
    note: str
    basis: str
    interval_days: int


def pit_session_type() -> AppointmentType:
    try:
        return AppointmentType.objects.get(code=PIT_SESSION, active=True)
    except AppointmentType.DoesNotExist:
        raise ValidationError(
            f'There is no active "{PIT_SESSION}" appointment type. A manager can add it in the administration.'
        ) from None


def closed_message(course: TreatmentCourse) -> str:
    return f"This course is {course.get_status_display().lower()}: no more sessions can be booked for it."


def _check_booking(course: TreatmentCourse | None, *, by: User) -> None:
    if not by.has_perm("scheduling.add_appointment"):
        raise PermissionDenied
    if course is not None and not course.is_active:
        raise ValidationError(closed_message(course), code="course_closed")


def _last_counted_appointment(course: TreatmentCourse) -> Appointment | None:
    return (
        course.appointments.filter(status__in=COUNTED_STATUSES)
        .select_related("clinician")
        .order_by("-starts_at")
        .first()
    )


def course_anchor(course: TreatmentCourse, session: InjectionSession | None = None) -> Anchor:
    """The course's latest session or counted appointment, whichever is later; the clinician is the given
    session's (the one just signed), else the anchor's. A session's own "next session in" is the
    clinician's decision for this patient, so it wins over the course interval."""
    last_session = course.sessions.select_related("clinician").order_by("-performed_at").first()
    appointment = _last_counted_appointment(course)
    if appointment is not None and (last_session is None or appointment.starts_at > last_session.performed_at):
        when = timezone.localtime(appointment.starts_at)
        clinician = session.clinician if session else appointment.clinician
        return Anchor(appointment.starts_at, clinician, course.interval_days, f"the appointment on {when:%d/%m/%Y}")
    if last_session is not None:
        when = timezone.localtime(last_session.performed_at)
        interval = last_session.next_interval_days or course.interval_days
        clinician = session.clinician if session else last_session.clinician
        basis = f"session {last_session.number} on {when:%d/%m/%Y}"
        return Anchor(last_session.performed_at, clinician, interval, basis)
    return Anchor(None, course.created_by, course.interval_days, "the start of the course")


def _on_the_step(moment: time) -> time:
    """A session noted at 10:37 is proposed at 10:35: slots start on SLOT_STEP boundaries."""
    step = int(SLOT_STEP.total_seconds() // 60)
    return time(moment.hour, moment.minute - moment.minute % step)


def _first_future(day: date, at: time) -> datetime:
    """`day` at `at` in the clinic's zone, or the first later day on which that time is still to come."""
    now = timezone.now()
    day = max(day, timezone.localdate(now))
    while _aware(day, at) <= now:
        day += timedelta(days=1)
    return _aware(day, at)


def wanted_after(anchor: Anchor, course: TreatmentCourse) -> datetime:
    """Anchor + interval as a local date at the anchor's local time (the wall clock survives a clock
    change), or the first day still to come when that date has passed."""
    if anchor.at is None:
        return _first_future(course.started_on, DEFAULT_TIME)
    local = timezone.localtime(anchor.at)
    return _first_future(local.date() + timedelta(days=anchor.interval_days), _on_the_step(local.time()))


def slot_problem(*, clinician: User, appointment_type: AppointmentType, starts_at: datetime) -> str:
    """Why the clinician cannot be booked then ("" when they can): the same rules appointment_book applies."""
    ends_at = starts_at + timedelta(minutes=appointment_type.duration_minutes)
    if not within_working_hours(clinician, starts_at, ends_at):
        return "outside the clinician's working hours"
    taken = Appointment.objects.filter(overlapping(starts_at, ends_at), clinician=clinician)
    if taken.exclude(status=AppointmentStatus.CANCELLED).exists():
        return "already taken"
    return ""


def by_preference(slots: Iterable[Slot], wanted: datetime) -> list[Slot]:
    """Slots on the wanted local day first, then the rest; nearest in time first within each."""
    day = timezone.localdate(wanted)
    return sorted(
        slots,
        key=lambda slot: (timezone.localdate(slot.starts_at) != day, abs(slot.starts_at - wanted), slot.starts_at),
    )


def _describe(moment: datetime) -> str:
    return f"{timezone.localtime(moment):%a %d/%m/%Y %H:%M}"


def _lateness(anchor: Anchor, wanted: datetime) -> str:
    if anchor.at is None:
        return ""
    due = timezone.localdate(anchor.at) + timedelta(days=anchor.interval_days)
    if timezone.localdate(wanted) == due:
        return ""
    return f"{anchor.interval_days} days after {anchor.basis} was {due:%d/%m/%Y}, already past. "


def next_session_proposal(*, course: TreatmentCourse, session: InjectionSession | None = None) -> NextProposal:
    """The next session at the interval, at the same local time, with the anchor's clinician; if that
    slot is taken or outside working hours, the nearest free slot instead, and the reason why."""
    anchor = course_anchor(course, session)
    appointment_type = pit_session_type()
    wanted = wanted_after(anchor, course)
    proposal = partial(
        NextProposal,
        course=course,
        clinician=anchor.clinician,
        appointment_type=appointment_type,
        wanted=wanted,
        basis=anchor.basis,
        interval_days=anchor.interval_days,
    )
    late = _lateness(anchor, wanted)
    problem = slot_problem(clinician=anchor.clinician, appointment_type=appointment_type, starts_at=wanted)
    if not problem:
        return proposal(starts_at=wanted, note=late)
    nearest = nearest_free_slots(appointment_type=appointment_type, clinician=anchor.clinician, around=wanted)
    ranked = by_preference(nearest, wanted)
    if not ranked:
        return proposal(starts_at=None, note=f"{late}{_describe(wanted)} is {problem}, and nothing near it is free.")
    why = f"{late}{_describe(wanted)} is {problem}: the nearest free slot is proposed instead."
    return proposal(starts_at=ranked[0].starts_at, note=why)


def next_session_book(
    *, course: TreatmentCourse, clinician: User, starts_at: datetime, by: User, notes: str = ""
) -> Appointment:
    """Book one PIT session for the course; SlotTaken (with alternatives) or OutsideWorkingHours if refused."""
    _check_booking(course, by=by)
    return appointment_book(
        patient=course.patient,
        clinician=clinician,
        appointment_type=pit_session_type(),
        starts_at=starts_at,
        by=by,
        course=course,
        notes=notes,
    )


def remaining_sessions(course: TreatmentCourse) -> int:
    """Planned sessions less those recorded and those still to come in the diary."""
    done = course.sessions.count()
    upcoming = (
        course.appointments.filter(starts_at__gt=timezone.now()).exclude(status=AppointmentStatus.CANCELLED).count()
    )
    return max(course.planned_sessions - done - upcoming, 0)


def occurrences(first_starts_at: datetime, *, every_days: int, count: int) -> list[datetime]:
    """Local date + the same local time for each occurrence. Adding days to an aware datetime would keep
    the UTC offset of the first one, and move every session after a clock change by an hour."""
    first = timezone.localtime(first_starts_at)
    at = first.time().replace(tzinfo=None)
    return [_aware(first.date() + timedelta(days=every_days * index), at) for index in range(count)]


def _validate_series(*, patient: Patient, every_days: int, count: int, by: User, course) -> None:
    _check_booking(course, by=by)
    if course is not None and course.patient_id != patient.pk:
        raise ValidationError("That course belongs to another patient.", code="course_patient")
    errors = {}
    if not 1 <= count <= MAX_SERIES:
        errors["count"] = f"Book between 1 and {MAX_SERIES} appointments at once."
    if not 1 <= every_days <= MAX_INTERVAL_DAYS:
        errors["every_days"] = f"The interval must be between 1 and {MAX_INTERVAL_DAYS} days."
    if errors:
        raise ValidationError(errors)


def _book_instead(wanted: datetime, alternatives: list[Slot], reason: str, book: Callable) -> SeriesResult:
    for slot in by_preference(alternatives, wanted):
        try:
            appointment = book(starts_at=slot.starts_at)
        except ValidationError:
            continue  # taken by another desk since it was offered: try the next one
        return SeriesResult(wanted, appointment, f"{reason}: booked {_describe(slot.starts_at)} instead.")
    return SeriesResult(wanted, None, f"{reason}, and no free slot was found within {SEARCH_DAYS} days: not booked.")


def _book_occurrence(wanted: datetime, *, book: Callable, nearest: Callable) -> SeriesResult:
    try:
        return SeriesResult(wanted, book(starts_at=wanted))
    except SlotTaken as taken:
        return _book_instead(wanted, taken.alternatives, "The clinician is already booked then", book)
    except OutsideWorkingHours:
        return _book_instead(wanted, nearest(around=wanted), "Outside the clinician's working hours", book)
    except ValidationError as error:
        return SeriesResult(wanted, None, " ".join(error.messages))


def series_book(
    *,
    patient: Patient,
    clinician: User,
    appointment_type: AppointmentType,
    first_starts_at: datetime,
    every_days: int,
    count: int,
    by: User,
    course: TreatmentCourse | None = None,
) -> list[SeriesResult]:
    """Book `count` appointments `every_days` apart at the same local time, taking the nearest free slot
    for any that clash, and say for each what happened.

    Each occurrence is booked on its own (appointment_book's own transaction, a savepoint when the caller
    has one): a clash or a refusal on one date must not lose the others, and booking them one by one keeps
    each row lock short, so other desks booking at the same time wait for one insert, not for twenty slot
    searches. The price is that a series can end up partly booked; the report says exactly which."""
    _validate_series(patient=patient, every_days=every_days, count=count, by=by, course=course)
    book = partial(
        appointment_book, patient=patient, clinician=clinician, appointment_type=appointment_type, by=by, course=course
    )
    nearest = partial(nearest_free_slots, appointment_type=appointment_type, clinician=clinician)
    return [
        _book_occurrence(wanted, book=book, nearest=nearest)
        for wanted in occurrences(first_starts_at, every_days=every_days, count=count)
    ]


def series_preview(**series) -> list[SeriesResult]:
    """What series_book would do now, without keeping anything: the same bookings in a transaction that is
    rolled back. Later occurrences see the earlier ones, exactly as in the real run. The appointments
    returned were never committed: use their times, not their ids."""
    with transaction.atomic():
        results = series_book(**series)
        transaction.set_rollback(True)
    return results
