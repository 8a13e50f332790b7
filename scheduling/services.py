"""Booking rules: working hours, no double booking (the database has the last word), moves,
cancellations and status changes. Emails go out after commit, from the worker."""

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from time import sleep

import psycopg
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, OperationalError, transaction
from django.db.models import Exists, Q, QuerySet
from django.utils import timezone

from accounts.models import Role, User
from accounts.roles import role_group_id
from documents.context import NOT_LIVE
from documents.services import render_pending_after_commit
from patients.models import Patient, check_not_before_birth
from pit_portal.outbox.models import EmailKind
from pit_portal.outbox.services import email_owe
from scheduling.models import (
    Appointment,
    AppointmentStatus,
    AppointmentType,
    TimeOff,
    WorkingHours,
    overlapping,
)

SLOT_STEP = timedelta(minutes=5)
NEAREST_SLOTS = 3
SEARCH_DAYS = 14
DOUBLE_BOOKING_CONSTRAINT = "appointment_no_double_booking"

# Which status may follow which: one click at the desk must not be able to undo history.
TRANSITIONS = {
    AppointmentStatus.BOOKED: {AppointmentStatus.ARRIVED, AppointmentStatus.NO_SHOW, AppointmentStatus.CANCELLED},
    AppointmentStatus.ARRIVED: {AppointmentStatus.IN_TREATMENT, AppointmentStatus.COMPLETED, AppointmentStatus.NO_SHOW},
    AppointmentStatus.IN_TREATMENT: {AppointmentStatus.COMPLETED},
    AppointmentStatus.COMPLETED: set(),
    AppointmentStatus.CANCELLED: set(),
    AppointmentStatus.NO_SHOW: {AppointmentStatus.ARRIVED},
}


@dataclass(frozen=True)
class Slot:
    clinician: User
    starts_at: datetime
    ends_at: datetime


class SlotTaken(ValidationError):
    """The clinician already has a live appointment overlapping the time asked for."""

    def __init__(self, alternatives: list[Slot]):
        self.alternatives = alternatives
        super().__init__("This clinician is already booked at that time.", code="slot_taken")


class OutsideWorkingHours(ValidationError):
    def __init__(self):
        super().__init__(
            "That time is outside the clinician's working hours. A manager can book it with a reason.",
            code="outside_hours",
        )


def clinicians() -> QuerySet[User]:
    """The active clinicians, by surname. By the group's id rather than its name, so PostgreSQL plans for the
    clinicians' group itself, not an average group, and does not read every user to find them."""
    group_id = role_group_id(Role.CLINICIAN)
    return User.objects.filter(groups=group_id, is_active=True).order_by("last_name", "first_name")


def calendar_clinicians() -> list[User]:
    """The calendars' columns and rows: clinicians() in one query."""
    return list(clinicians())


def _aware(day: date, at: time) -> datetime:
    """A wall-clock time on a day in the clinic's zone, correct on either side of a clock change."""
    return timezone.make_aware(datetime.combine(day, at))


def working_blocks(
    clinician: User, day: date, hours: list[WorkingHours], time_off: list[TimeOff]
) -> list[tuple[datetime, datetime]]:
    """The clinician's working periods on a day, as aware datetimes; none on a day off. `hours` and `time_off` are
    read once for all the days a search scans."""
    if any(off.starts_on <= day <= off.ends_on and off.clinician_id in (None, clinician.pk) for off in time_off):
        return []
    return [
        (_aware(day, block.starts), _aware(day, block.ends))
        for block in hours
        if block.clinician_id == clinician.pk and block.weekday == day.weekday()
    ]


def within_working_hours(clinician: User, starts_at: datetime, ends_at: datetime) -> bool:
    """Whether one of the clinician's working blocks that day holds the whole appointment, and neither they
    nor the clinic are off that day: one query."""
    start, end = timezone.localtime(starts_at), timezone.localtime(ends_at)
    if end.date() != start.date():
        return False
    day = start.date()
    off = TimeOff.objects.filter(
        Q(clinician=clinician) | Q(clinician__isnull=True), starts_on__lte=day, ends_on__gte=day
    )
    holding = WorkingHours.objects.filter(
        clinician=clinician, weekday=day.weekday(), starts__lte=start.time(), ends__gte=end.time()
    )
    return holding.filter(~Exists(off)).exists()


def _overlaps(starts_at: datetime, ends_at: datetime, busy: list[tuple[datetime, datetime]]) -> bool:
    return any(start < ends_at and starts_at < end for start, end in busy)


def free_slots(
    *,
    appointment_type: AppointmentType,
    clinician_choices: list[User],
    start: datetime,
    until: datetime,
    limit: int = 20,
    length: timedelta | None = None,
    ignoring: int | None = None,
) -> list[Slot]:
    """Free slots for the type (or `length`), earliest first, in working hours, from `start` (never in the
    past). `ignoring` leaves one appointment out of the busy times: the one being moved."""
    start = max(start, timezone.now())
    length = length or timedelta(minutes=appointment_type.duration_minutes)
    ids = [c.pk for c in clinician_choices]
    live = Appointment.objects.filter(overlapping(start, until), clinician__in=ids).exclude(
        status=AppointmentStatus.CANCELLED
    )
    if ignoring is not None:
        live = live.exclude(pk=ignoring)
    busy: dict[int, list] = {pk: [] for pk in ids}
    for appointment in live.only("clinician_id", "starts_at", "ends_at"):
        busy[appointment.clinician_id].append((appointment.starts_at, appointment.ends_at))
    hours = list(WorkingHours.objects.filter(clinician__in=ids))
    time_off = list(TimeOff.objects.filter(Q(clinician__in=ids) | Q(clinician__isnull=True)))
    slots: list[Slot] = []
    day = timezone.localtime(start).date()
    while day <= timezone.localtime(until).date() and len(slots) < limit:
        for clinician in clinician_choices:
            for block_start, block_end in working_blocks(clinician, day, hours, time_off):
                slots += _slots_in_block(clinician, block_start, block_end, length, start, until, busy[clinician.pk])
        day += timedelta(days=1)
    return sorted(slots, key=lambda slot: (slot.starts_at, slot.clinician.pk))[:limit]


def _slots_in_block(clinician, block_start, block_end, length, start, until, busy) -> list[Slot]:
    found = []
    moment = block_start
    while moment + length <= block_end:
        if start <= moment and moment + length <= until and not _overlaps(moment, moment + length, busy):
            found.append(Slot(clinician, moment, moment + length))
        moment += SLOT_STEP
    return found


def nearest_free_slots(
    *,
    appointment_type: AppointmentType,
    clinician: User,
    around: datetime,
    length: timedelta | None = None,
    ignoring: int | None = None,
) -> list[Slot]:
    """The free slots closest in time to the one asked for, before or after it."""
    candidates = free_slots(
        appointment_type=appointment_type,
        clinician_choices=[clinician],
        start=around - timedelta(days=1),
        until=around + timedelta(days=SEARCH_DAYS),
        limit=500,
        length=length,
        ignoring=ignoring,
    )
    candidates.sort(key=lambda slot: abs(slot.starts_at - around))
    return sorted(candidates[:NEAREST_SLOTS], key=lambda slot: slot.starts_at)


def patient_clashes(patient: Patient, starts_at: datetime, ends_at: datetime, exclude: int | None = None):
    """The patient's other live appointments at the same time (a warning, not a refusal)."""
    others = Appointment.objects.exclude(pk=exclude) if exclude is not None else Appointment.objects.all()
    return (
        others.filter(overlapping(starts_at, ends_at), patient=patient)
        .exclude(status=AppointmentStatus.CANCELLED)
        .select_related("clinician")
    )


def _check_time(
    *, clinician: User, starts_at: datetime, ends_at: datetime, by: User, outside_hours_reason: str
) -> None:
    if starts_at < timezone.now():
        raise ValidationError("Appointments cannot be booked in the past.", code="past")
    if within_working_hours(clinician, starts_at, ends_at):
        return
    if not by.has_perm("scheduling.override_working_hours"):
        raise OutsideWorkingHours()
    if not outside_hours_reason.strip():
        raise ValidationError("Give the reason for booking outside working hours.", code="override_reason")


# How often a booking or move is tried again after PostgreSQL broke a deadlock between it and another booking
# of the same time, and the longest pause before the first retry (it grows with each): a random pause, so that the
# bookings broken out of one knot do not all meet again at the same instant.
DEADLOCK_RETRIES = 5
DEADLOCK_PAUSE_SECONDS = 0.05


def _is_deadlock(error: OperationalError) -> bool:
    """Two bookings of overlapping times, neither committed yet, each waiting for the other's row to pass the
    no-double-booking check: PostgreSQL ends one of them. Tried again, it waits for the other's outcome and is
    booked or refused like any other attempt."""
    return isinstance(error.__cause__, psycopg.errors.DeadlockDetected)


def _retrying_deadlocks(attempt: Callable[[], Appointment]) -> Appointment:
    for retry in range(DEADLOCK_RETRIES):
        try:
            return attempt()
        except OperationalError as error:
            if not _is_deadlock(error):
                raise
        sleep(random.uniform(0, DEADLOCK_PAUSE_SECONDS * (retry + 1)))
    return attempt()


def _save_or_offer_alternatives(appointment: Appointment) -> Appointment:
    """Save; if the database refuses a double booking, answer with the nearest free slots."""

    def save() -> Appointment:
        with transaction.atomic():
            appointment.save()
        return appointment

    try:
        _retrying_deadlocks(save)
    except IntegrityError as error:
        if DOUBLE_BOOKING_CONSTRAINT not in str(error):
            raise
        raise SlotTaken(
            nearest_free_slots(
                appointment_type=appointment.appointment_type,
                clinician=appointment.clinician,
                around=appointment.starts_at,
                length=appointment.ends_at - appointment.starts_at,
                ignoring=appointment.pk,
            )
        ) from None
    return appointment


def _notify(appointment: Appointment, kind: str) -> None:
    """The change owes the patient a notice, recorded with it (pit_portal.outbox); each change owes its own."""
    email_owe(kind=EmailKind(kind), object_id=appointment.pk, key=appointment.updated_at.isoformat())


PATIENT_NOT_PROCESSABLE = (
    "This patient cannot be booked: they asked for processing of their data to be restricted, or were anonymised."
)


def appointment_book(*, clinician: User, appointment_type: AppointmentType, starts_at: datetime, **details):
    """Book the appointment; if the database refuses it as a double booking, answer with the nearest free
    slots. They are looked up after the booking's transaction has ended, so that transaction needs no
    savepoint around its INSERT to survive the refusal (two queries fewer on every booking)."""
    try:
        return _retrying_deadlocks(
            lambda: _book(clinician=clinician, appointment_type=appointment_type, starts_at=starts_at, **details)
        )
    except IntegrityError as error:
        if DOUBLE_BOOKING_CONSTRAINT not in str(error):
            raise
        length = timedelta(minutes=appointment_type.duration_minutes)
        nearest = nearest_free_slots(appointment_type=appointment_type, clinician=clinician, around=starts_at,
                                     length=length, ignoring=None)  # fmt: skip
        raise SlotTaken(nearest) from None


def _check_processable(patient: Patient) -> None:
    """Refuse to book a patient whose processing is restricted at their request, or who was anonymised
    (patients.data_requests), as the caller read them for this booking: a fresh read without a lock would be no
    surer (a restriction recorded a moment later is simply later than the booking) and costs the page a query."""
    if not patient.is_processable:
        raise ValidationError(PATIENT_NOT_PROCESSABLE, code="processing_restricted")


@transaction.atomic
def _book(
    *,
    patient: Patient,
    clinician: User,
    appointment_type: AppointmentType,
    starts_at: datetime,
    by: User,
    course=None,
    session=None,
    notes: str = "",
    outside_hours_reason: str = "",
) -> Appointment:
    _check_processable(patient)
    ends_at = starts_at + timedelta(minutes=appointment_type.duration_minutes)
    _check_time(
        clinician=clinician, starts_at=starts_at, ends_at=ends_at, by=by, outside_hours_reason=outside_hours_reason
    )
    appointment = Appointment(
        patient=patient,
        clinician=clinician,
        appointment_type=appointment_type,
        starts_at=starts_at,
        ends_at=ends_at,
        course=course,
        session=session,
        notes=notes,
        outside_hours_reason=outside_hours_reason.strip(),
        created_by=by,
    )
    # The related rows were read for this booking, so they exist; the database checks overlaps atomically.
    related = ["patient", "clinician", "appointment_type", "course", "session", "created_by"]
    appointment.full_clean(exclude=related, validate_constraints=False)
    appointment.save()
    render_pending_after_commit(patient_id=patient.pk)  # a new aftercare sheet naming it, if it is the next
    return appointment


@transaction.atomic
def appointment_move(
    *, appointment: Appointment, starts_at: datetime, by: User, clinician: User | None = None, outside_hours_reason=""
) -> Appointment:
    # Re-read under a lock: a move from a stale screen must not revive an appointment cancelled meanwhile.
    appointment = Appointment.objects.select_for_update(of=("self",)).select_related("patient").get(pk=appointment.pk)
    if appointment.status != AppointmentStatus.BOOKED:
        raise ValidationError(
            f"A {appointment.get_status_display().lower()} appointment cannot be moved; book a new one."
        )
    check_not_before_birth(appointment.patient, timezone.localdate(starts_at))
    clinician = clinician or appointment.clinician
    ends_at = starts_at + (appointment.ends_at - appointment.starts_at)
    _check_time(
        clinician=clinician, starts_at=starts_at, ends_at=ends_at, by=by, outside_hours_reason=outside_hours_reason
    )
    appointment.clinician, appointment.starts_at, appointment.ends_at = clinician, starts_at, ends_at
    appointment.outside_hours_reason = outside_hours_reason.strip()
    _save_or_offer_alternatives(appointment)
    render_pending_after_commit(patient_id=appointment.patient_id)
    _notify(appointment, "rescheduled")
    return appointment


@transaction.atomic
def appointment_cancel(*, appointment: Appointment, reason: str, by: User) -> Appointment:
    if not reason.strip():
        raise ValidationError("Give the reason for cancelling.")
    appointment = appointment_set_status(
        appointment=appointment, status=AppointmentStatus.CANCELLED, by=by, reason=reason
    )
    _notify(appointment, "cancelled")
    return appointment


@transaction.atomic
def appointment_set_status(*, appointment: Appointment, status: str, by: User, reason: str = "") -> Appointment:
    appointment = Appointment.objects.select_for_update(of=("self",)).select_related("patient").get(pk=appointment.pk)
    # Staff change any appointment; a patient may only cancel their own (the portal checks the notice period).
    own_cancellation = status == AppointmentStatus.CANCELLED and appointment.patient.user_id == by.pk
    if not (by.has_perm("scheduling.change_appointment") or own_cancellation):
        raise PermissionDenied
    if status not in AppointmentStatus.values:
        raise ValidationError("Unknown appointment status.")
    current = AppointmentStatus(appointment.status)
    if status not in TRANSITIONS[current]:
        raise ValidationError(
            f"A {current.label.lower()} appointment cannot be marked {AppointmentStatus(status).label.lower()}."
        )
    appointment.status = status
    appointment.cancel_reason = reason.strip() if status == AppointmentStatus.CANCELLED else ""
    appointment.save(update_fields=["status", "cancel_reason", "updated_at"])
    if (current in NOT_LIVE) != (status in NOT_LIVE):  # it stopped, or started again, going ahead
        render_pending_after_commit(patient_id=appointment.patient_id)
    return appointment
