"""The calendars' grid: some clinicians' diary over some days, read in three queries, laid out in Python."""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from urllib.parse import urlencode

from django.db.models import Q, QuerySet
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from scheduling.models import Appointment, AppointmentStatus, TimeOff, WorkingHours, overlapping
from scheduling.services import TRANSITIONS

SLOT_MINUTES = 15  # one clickable cell of the grid; the booking form takes any five-minute time
DEFAULT_HOURS = (8 * 60, 18 * 60)  # the grid always shows at least this much of the day
COMPACT_MINUTES = 20  # shorter blocks have room for one line: time, name and status

# The statuses the desk sets with one click. Cancelling needs a reason, so it has its own form.
ONE_CLICK = {
    AppointmentStatus.ARRIVED: "Arrived",
    AppointmentStatus.IN_TREATMENT: "In treatment",
    AppointmentStatus.COMPLETED: "Completed",
    AppointmentStatus.NO_SHOW: "Did not attend",
}


@dataclass(frozen=True)
class StatusActions:
    """What the calendar offers on an appointment in one status."""

    label: str
    actions: tuple[tuple[str, str], ...]  # (status, button label), the usual next step first
    can_cancel: bool
    can_move: bool  # only a booked appointment moves: an arrived or finished one is history, not a plan


STATUS_ACTIONS = {
    status.value: StatusActions(
        label=status.label,
        actions=tuple((step.value, label) for step, label in ONE_CLICK.items() if step in TRANSITIONS[status]),
        can_cancel=AppointmentStatus.CANCELLED in TRANSITIONS[status],
        can_move=status == AppointmentStatus.BOOKED,
    )
    for status in AppointmentStatus
}


def minute_of(day: date, local: datetime) -> int:
    """Minutes from the start of `day` on the clinic's wall clock, kept within the day."""
    minutes = (local.date() - day).days * 1440 + local.hour * 60 + local.minute
    return max(0, min(1440, minutes))


def clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def aware(day: date, minute: int = 0) -> datetime:
    return timezone.make_aware(datetime.combine(day, time(minute // 60, minute % 60)))


@dataclass
class Entry:
    """An appointment as a calendar lays it out: its place in the column of the day it starts on (it runs past
    midnight only by mistake), and its block's markup once the calendar has it (scheduling.views.calendar)."""

    appointment: Appointment
    minute: int = 0
    length: int = 0
    block: str = ""

    @classmethod
    def of(cls, appointment: Appointment) -> "Entry":
        starts_at, ends_at = timezone.localtime(appointment.starts_at), timezone.localtime(appointment.ends_at)
        minute = minute_of(starts_at.date(), starts_at)
        return cls(appointment, minute, max(1, minute_of(starts_at.date(), ends_at) - minute))

    @property
    def day(self) -> date:
        return timezone.localdate(self.appointment.starts_at)

    @property
    def compact(self) -> bool:
        return self.length < COMPACT_MINUTES

    @property
    def allowed(self) -> StatusActions:
        return STATUS_ACTIONS[self.appointment.status]


def diary_appointments(clinician_ids: list[int], start: datetime, end: datetime) -> QuerySet[Appointment]:
    """The clinicians' appointments overlapping [start, end), with what the calendars show of them, in time order."""
    return (
        Appointment.objects.filter(overlapping(start, end), clinician_id__in=clinician_ids)
        .select_related("patient", "appointment_type", "clinician")
        .order_by("starts_at")
    )


@dataclass
class Diary:
    """Everything the calendar shows for some clinicians over some days, in three queries."""

    hours: dict[tuple[int, int], list[tuple[int, int]]]  # (clinician, weekday): working blocks in minutes
    time_off: list[TimeOff]
    entries: dict[tuple[int, date], list[Entry]]  # (clinician, day): the appointments starting that day

    @classmethod
    def load(cls, staff: list[User], first: date, last: date) -> "Diary":
        ids = [clinician.pk for clinician in staff]
        weekdays = {(first + timedelta(days=offset)).weekday() for offset in range(min(7, (last - first).days + 1))}
        hours = defaultdict(list)
        blocks = WorkingHours.objects.filter(clinician__in=ids, weekday__in=weekdays).order_by("starts")
        for block in blocks:
            hours[block.clinician_id, block.weekday].append(
                (block.starts.hour * 60 + block.starts.minute, block.ends.hour * 60 + block.ends.minute)
            )
        whose = Q(clinician__in=ids) | Q(clinician__isnull=True)
        time_off = list(TimeOff.objects.filter(whose, starts_on__lte=last, ends_on__gte=first))
        entries = defaultdict(list)
        for appointment in diary_appointments(ids, aware(first), aware(last + timedelta(days=1))):
            entry = Entry.of(appointment)
            entries[appointment.clinician_id, entry.day].append(entry)
        return cls(hours, time_off, entries)

    def time_off_on(self, clinician: User, day: date) -> TimeOff | None:
        whose = (None, clinician.pk)
        found = (off for off in self.time_off if off.starts_on <= day <= off.ends_on and off.clinician_id in whose)
        return next(found, None)


@dataclass
class Cell:
    """A free stretch of the grid that books the clinician at `minute` when clicked."""

    minute: int
    length: int
    label: str
    url: str


@dataclass
class Column:
    clinician: User
    day: date
    working: list[tuple[int, int]] = field(default_factory=list)
    time_off: TimeOff | None = None
    live: list[Entry] = field(default_factory=list)
    cancelled: list[Entry] = field(default_factory=list)
    free: list[Cell] = field(default_factory=list)  # where the grid offers booking
    now_minute: int | None = None
    now_line: int | None = None  # where the grid draws "now": the minute, when the grid's hours include it

    @property
    def working_spans(self) -> list[tuple[int, int]]:
        return [(start, end - start) for start, end in self.working]

    @property
    def hours_text(self) -> str:
        if self.time_off:
            return f"Time off{': ' + self.time_off.reason if self.time_off.reason else ''}"
        return ", ".join(f"{clock(start)}\N{EN DASH}{clock(end)}" for start, end in self.working) or "Not working"


def column(clinician: User, day: date, diary: Diary, *, local_now: datetime, booking: dict | None) -> Column:
    """The clinician's column for the day; `local_now` is the time on the clinic's wall clock. With `booking`
    (the booking form's query parameters, perhaps naming the patient), its free times link to the form."""
    laid_out = Column(clinician, day, time_off=diary.time_off_on(clinician, day))
    if laid_out.time_off is None:
        laid_out.working = list(diary.hours.get((clinician.pk, day.weekday()), ()))
    for entry in diary.entries.get((clinician.pk, day), []):
        is_live = entry.appointment.status != AppointmentStatus.CANCELLED
        (laid_out.live if is_live else laid_out.cancelled).append(entry)
    if day == local_now.date():
        laid_out.now_minute = minute_of(day, local_now)
    if booking is not None:
        laid_out.free = _free_cells(laid_out, local_now, booking)
    return laid_out


def _free_cells(column: Column, local_now: datetime, booking: dict) -> list[Cell]:
    """The clickable cells: in working hours, still ahead, not taken by a live appointment."""
    if column.day < local_now.date():
        return []
    first_free = column.now_minute + 1 if column.now_minute is not None else 0  # a cell starting now has begun
    book_url = reverse("scheduling:book")
    cells = []
    for block_start, block_end in column.working:
        for minute in range(block_start, block_end, SLOT_MINUTES):
            end = min(minute + SLOT_MINUTES, block_end)
            # Any overlap counts: a cell half-covered by an appointment would only ever lead to a clash.
            taken = any(entry.minute < end and minute < entry.minute + entry.length for entry in column.live)
            if minute < first_free or taken:
                continue
            query = {**booking, "clinician": column.clinician.pk, "starts_at": f"{column.day}T{clock(minute)}"}
            cells.append(Cell(minute, end - minute, clock(minute), f"{book_url}?{urlencode(query)}"))
    return cells


def _axis(columns: list[Column]) -> tuple[int, int]:
    """Whole hours covering every column's working hours and appointments, and at least 08-18."""
    starts = [DEFAULT_HOURS[0]] + [start for c in columns for start, _ in c.working]
    starts += [a.minute for c in columns for a in c.live]
    ends = [DEFAULT_HOURS[1]] + [end for c in columns for _, end in c.working]
    ends += [a.minute + a.length for c in columns for a in c.live]
    return min(starts) // 60 * 60, min(1440, -(-max(ends) // 60) * 60)


def grid_context(columns: list[Column]) -> dict:
    axis_start, axis_end = _axis(columns)
    for shown in columns:
        # Outside the hours shown (the evening, or a day nobody works) the line would fall off the grid, and the
        # calendar would scroll down to it: none is placed.
        inside = shown.now_minute is not None and axis_start <= shown.now_minute <= axis_end
        shown.now_line = shown.now_minute if inside else None
    return {
        "columns": columns,
        "axis_start": axis_start,
        "axis_minutes": axis_end - axis_start,
        "hours": [(minute, clock(minute)) for minute in range(axis_start, axis_end, 60)],
        "cancelled": [entry.appointment for column in columns for entry in column.cancelled],
    }
