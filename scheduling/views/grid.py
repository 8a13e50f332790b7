"""The calendars' grid: some clinicians' diary over some days, read in four queries, laid out in Python.

A busy clinic's day holds some two hundred appointments and its week well over a thousand, so everything here
is done once per page rather than once per appointment where it can be: appointments come as plain rows (not
model instances with their patient), times are converted with the zone read once, links are built from
patterns reversed once, and what each status allows is looked up, not worked out.
"""

from bisect import bisect_right
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import NamedTuple
from urllib.parse import urlencode

from django.db.models import FloatField, Q
from django.db.models.functions import Cast, Extract
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from patients.models import Patient
from scheduling.models import (
    Appointment,
    AppointmentStatus,
    AppointmentType,
    TimeOff,
    WorkingHours,
    overlapping,
)
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


def clock_label(moment: datetime) -> str:
    # Formatted by hand: strftime was a tenth of the week's time.
    return f"{moment.hour:02d}:{moment.minute:02d}"


def short_day(day: date) -> str:
    return f"{day:%a} {day.day} {day:%b}"  # Mon 3 Nov


def long_day(day: date) -> str:
    return f"{day:%A} {day.day} {day:%B}"  # Monday 3 November


def aware(day: date, minute: int = 0) -> datetime:
    return timezone.make_aware(datetime.combine(day, time(minute // 60, minute % 60)))


@dataclass(frozen=True)
class AppointmentLinks:
    """The addresses of appointments' pages ("appointment", "status", "move", "cancel", "menu"), each URL pattern
    reversed once for a whole calendar rather than once for each of a busy day's thousand links."""

    patterns: dict[str, tuple[str, str]]  # name: (the address before the id, after it)

    PAGES = ("appointment", "status", "move", "cancel", "menu")
    PLACEHOLDER = 2147483647

    @classmethod
    def reversed(cls) -> "AppointmentLinks":
        marker = str(cls.PLACEHOLDER)
        return cls({name: tuple(reverse(f"scheduling:{name}", args=[marker]).split(marker, 1)) for name in cls.PAGES})

    def to(self, name: str, pk: int) -> str:
        before, after = self.patterns[name]
        return f"{before}{pk}{after}"


class AppointmentDisplay(NamedTuple):
    """What an appointment's block, chip and menu show of it, as plain values."""

    pk: int
    status: str
    starts_at: datetime  # on the clinic's wall clock
    ends_at: datetime
    colour: str
    kind_name: str
    name: str
    notes: str
    compact: bool
    links: AppointmentLinks

    @property
    def cache_values(self) -> tuple:
        """Everything its markup shows but the links, which are the same for every appointment but its id."""
        return tuple(self)[:-1]

    start_label = property(lambda self: clock_label(self.starts_at))
    end_label = property(lambda self: clock_label(self.ends_at))

    @property
    def summary(self) -> str:
        """The tooltip of its block and chip, one value to escape rather than five."""
        return f"{self.start_label}\N{EN DASH}{self.end_label} {self.name}, {self.kind_name} ({self.status_label})"

    allowed = property(lambda self: STATUS_ACTIONS[self.status])
    status_label = property(lambda self: self.allowed.label)
    actions = property(lambda self: self.allowed.actions)
    can_cancel = property(lambda self: self.allowed.can_cancel)
    can_move = property(lambda self: self.allowed.can_move)
    url = property(lambda self: self.links.to("appointment", self.pk))
    status_url = property(lambda self: self.links.to("status", self.pk))
    move_url = property(lambda self: self.links.to("move", self.pk))
    cancel_url = property(lambda self: self.links.to("cancel", self.pk))
    menu_url = property(lambda self: self.links.to("menu", self.pk))


class Entry:
    """One appointment as the calendars lay it out: its place in a column, its line among the cancelled, and its
    `display`, which its block, chip and menu show. Built from the diary's rows, or from an Appointment
    (`of`) for the block htmx swaps in and the menu.

    A plain class with slots: a busy week makes a thousand of them."""

    __slots__ = (
        "block",
        "cancel_reason",
        "clinician",
        "compact",
        "ends_at",
        "is_live",
        "kind",
        "length",
        "links",
        "minute",
        "name",
        "notes",
        "pk",
        "starts_at",
        "status",
    )  # fmt: skip

    def __init__(self, pk: int, status: str, starts_at: datetime, ends_at: datetime, clinician: User,
                 kind: AppointmentType, name: str, notes: str, cancel_reason: str,
                 links: AppointmentLinks):  # fmt: skip
        self.pk, self.status, self.clinician, self.kind, self.links = pk, status, clinician, kind, links
        self.starts_at, self.ends_at = starts_at, ends_at  # on the clinic's wall clock
        self.name, self.notes, self.cancel_reason = name, notes, cancel_reason
        self.is_live = status != AppointmentStatus.CANCELLED
        self.block = ""  # its block's markup, once the calendar has it (scheduling.views.calendar)
        self.place(starts_at.date())

    @classmethod
    def of(cls, appointment: Appointment) -> "Entry":
        return cls(
            appointment.pk,
            appointment.status,
            timezone.localtime(appointment.starts_at),
            timezone.localtime(appointment.ends_at),
            appointment.clinician,
            appointment.appointment_type,
            appointment.patient.full_name,
            appointment.notes,
            appointment.cancel_reason,
            AppointmentLinks.reversed(),
        )

    def place(self, day: date) -> None:
        """Its position in the column of `day` (an appointment runs past midnight only by mistake)."""
        self.minute = minute_of(day, self.starts_at)
        self.length = max(1, minute_of(day, self.ends_at) - self.minute)
        self.compact = self.length < COMPACT_MINUTES

    @property
    def display(self) -> AppointmentDisplay:
        return AppointmentDisplay(self.pk, self.status, self.starts_at, self.ends_at, self.kind.colour,
                                  self.kind.name, self.name, self.notes, self.compact, self.links)  # fmt: skip

    # What the lists of cancelled appointments show.
    start_label = property(lambda self: clock_label(self.starts_at))
    url = property(lambda self: self.links.to("appointment", self.pk))


# What the calendar reads of each appointment, its patient's names included, as one row. The times come as
# seconds since the epoch: Django reads a timestamp column with a parser written in Python, some ten
# microseconds a value, which was a fifth of the week's time; fromtimestamp() takes a fraction of that.
ENTRY_COLUMNS = (
    "pk", "status", "start_epoch", "end_epoch", "clinician_id", "appointment_type_id", "notes", "cancel_reason",
    "patient__given_name", "patient__family_name",
)  # fmt: skip


def _epoch(name: str) -> Cast:
    return Cast(Extract(name, "epoch"), FloatField())


@dataclass
class Diary:
    """Everything the calendar shows for some clinicians over some days, in four queries."""

    hours: dict[tuple[int, int], list[tuple[int, int]]]  # (clinician, weekday): working blocks in minutes
    time_off: list[TimeOff]
    entries: dict[tuple[int, date], list[Entry]]

    @classmethod
    def load(cls, staff: list[User], first: date, last: date) -> "Diary":
        ids = [clinician.pk for clinician in staff]
        weekdays = {(first + timedelta(days=offset)).weekday() for offset in range(min(7, (last - first).days + 1))}
        hours = defaultdict(list)
        blocks = WorkingHours.objects.filter(clinician__in=ids, weekday__in=weekdays).order_by("starts")
        for clinician_id, weekday, starts, ends in blocks.values_list("clinician_id", "weekday", "starts", "ends"):
            hours[clinician_id, weekday].append((starts.hour * 60 + starts.minute, ends.hour * 60 + ends.minute))
        whose = Q(clinician__in=ids) | Q(clinician__isnull=True)
        time_off = list(TimeOff.objects.filter(whose, starts_on__lte=last, ends_on__gte=first))
        return cls(hours, time_off, _entries(staff, first, last))

    def time_off_on(self, clinician: User, day: date) -> TimeOff | None:
        whose = (None, clinician.pk)
        found = (off for off in self.time_off if off.starts_on <= day <= off.ends_on and off.clinician_id in whose)
        return next(found, None)

    def working(self, clinician: User, day: date) -> list[tuple[int, int]]:
        """The clinician's working blocks that day, as minutes on the wall clock (time off is the caller's)."""
        return list(self.hours.get((clinician.pk, day.weekday()), ()))


def diary_rows(clinician_ids: list[int], start: datetime, end: datetime) -> list[tuple]:
    """The clinicians' appointments overlapping [start, end), as ENTRY_COLUMNS rows in time order."""
    return list(
        Appointment.objects.filter(overlapping(start, end), clinician_id__in=clinician_ids)
        .annotate(start_epoch=_epoch("starts_at"), end_epoch=_epoch("ends_at"))
        .order_by("starts_at")
        .values_list(*ENTRY_COLUMNS)
    )


def _entries(staff: list[User], first: date, last: date) -> dict[tuple[int, date], list[Entry]]:
    by_id = {clinician.pk: clinician for clinician in staff}
    kinds = {kind.pk: kind for kind in AppointmentType.objects.all()}  # a handful: read once, not joined
    zone = timezone.get_current_timezone()
    rows = diary_rows(list(by_id), aware(first), aware(last + timedelta(days=1)))
    by_column: dict[tuple[int, date], list[Entry]] = defaultdict(list)
    local, links = datetime.fromtimestamp, AppointmentLinks.reversed()
    for pk, status, start, end, clinician_id, kind_id, notes, cancel_reason, given, family in rows:
        name = Patient.display_name(given, family)
        entry = Entry(pk, status, local(start, zone), local(end, zone), by_id[clinician_id], kinds[kind_id], name,
                      notes, cancel_reason, links)  # fmt: skip
        by_column[clinician_id, entry.starts_at.date()].append(entry)
    return by_column


@dataclass
class Cell:
    """A free stretch of the grid that books the clinician at `minute` when clicked."""

    minute: int
    length: int
    label: str
    url: str


@dataclass(frozen=True)
class BookingLink:
    """Builds each free cell's link to the booking form; the URL is reversed once, not per cell."""

    url: str
    patient_id: int | None  # the patient being booked for, if any

    @classmethod
    def for_patient(cls, patient: Patient | None) -> "BookingLink":
        return cls(reverse("scheduling:book"), patient.pk if patient else None)

    def to(self, clinician_id: int, starts_at: str) -> str:
        params = {"patient": self.patient_id} if self.patient_id else {}
        return f"{self.url}?{urlencode({**params, 'clinician': clinician_id, 'starts_at': starts_at})}"


@dataclass(frozen=True)
class FreeCells:
    """A column's free cells as plain values."""

    book: BookingLink
    clinician_id: int
    who: str  # the clinician's name
    day: date
    stretches: tuple[tuple[int, int], ...]  # each cell's minute and length

    @property
    def short_day(self) -> str:
        return short_day(self.day)

    def cells(self) -> list[Cell]:
        return [
            Cell(
                minute,
                length,
                clock(minute),
                self.book.to(self.clinician_id, f"{self.day.isoformat()}T{clock(minute)}"),
            )
            for minute, length in self.stretches
        ]


@dataclass
class Column:
    clinician: User
    day: date
    title: str = ""
    link: str = ""
    working: list[tuple[int, int]] = field(default_factory=list)
    time_off: TimeOff | None = None
    live: list[Entry] = field(default_factory=list)
    cancelled: list[Entry] = field(default_factory=list)
    free: FreeCells | None = None  # where the grid offers booking
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

    @property
    def short_day(self) -> str:
        return short_day(self.day)

    @property
    def long_day(self) -> str:
        return long_day(self.day)


def column(clinician: User, day: date, diary: Diary, *, local_now: datetime, book: BookingLink | None) -> Column:
    """The clinician's column for the day; `local_now` is the time on the clinic's wall clock."""
    laid_out = Column(clinician, day, time_off=diary.time_off_on(clinician, day))
    if laid_out.time_off is None:
        laid_out.working = diary.working(clinician, day)
    for entry in diary.entries.get((clinician.pk, day), []):  # each already placed on its day
        (laid_out.live if entry.is_live else laid_out.cancelled).append(entry)
    if day == local_now.date():
        laid_out.now_minute = minute_of(day, local_now)
    if book is not None:
        stretches = _free_stretches(laid_out, local_now)
        laid_out.free = FreeCells(book, clinician.pk, clinician.get_full_name(), day, stretches)
    return laid_out


def _free_stretches(column: Column, local_now: datetime) -> tuple[tuple[int, int], ...]:
    """The (minute, length) of each clickable cell: in working hours, still ahead, not taken by a live
    appointment."""
    if column.day < local_now.date():
        return ()
    first_free = column.now_minute + 1 if column.now_minute is not None else 0  # a cell starting now has begun
    taken = TakenMinutes.of(column.live)
    stretches = []
    for block_start, block_end in column.working:
        for minute in range(block_start, block_end, SLOT_MINUTES):
            length = min(SLOT_MINUTES, block_end - minute)
            # Any overlap counts: a cell half-covered by an appointment would only ever lead to a clash.
            if minute < first_free or taken.overlap(minute, minute + length):
                continue
            stretches.append((minute, length))
    return tuple(stretches)


@dataclass(frozen=True)
class TakenMinutes:
    """The minutes of a column that live appointments cover, as separate stretches in order, so that whether a
    cell is free is a binary search rather than a look at every appointment of the day."""

    starts: list[int]
    ends: list[int]

    @classmethod
    def of(cls, live: list[Entry]) -> "TakenMinutes":
        starts, ends = [], []
        for start, end in sorted((entry.minute, entry.minute + entry.length) for entry in live):
            if ends and start <= ends[-1]:  # overlaps or touches the stretch before: one stretch
                ends[-1] = max(ends[-1], end)
            else:
                starts.append(start)
                ends.append(end)
        return cls(starts, ends)

    def overlap(self, start: int, end: int) -> bool:
        """Whether any taken minute lies in [start, end)."""
        first_ending_after = bisect_right(self.ends, start)
        return first_ending_after < len(self.starts) and self.starts[first_ending_after] < end


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
        "cancelled": [entry for column in columns for entry in column.cancelled],
    }
