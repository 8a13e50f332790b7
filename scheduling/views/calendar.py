"""The front desk's diary: day and week calendars, booking, moving, one-click status changes,
the printable day sheet and the free-slot finder.

The booking rules live in scheduling.services; these views only translate between them and
the forms. Calendar pages load everything in a fixed handful of queries (clinicians, working
hours, time off, appointments) and lay the grid out in Python, so a busy day costs no more
than a quiet one.
"""

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import wraps
from itertools import groupby
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html_join
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST
from django.views.decorators.vary import vary_on_headers

from accounts.decorators import permission_required
from accounts.models import User
from audit.models import Action
from audit.services import record_page_view
from patients.access import get_patient_for
from patients.models import Patient
from patients.services import patient_search
from scheduling.access import get_appointment_for
from scheduling.forms import DATETIME_LOCAL, BookingForm, CancelForm, MoveForm, SlotSearchForm
from scheduling.models import Appointment, AppointmentStatus, AppointmentType, TimeOff, WorkingHours, overlapping
from scheduling.services import (
    TRANSITIONS,
    Slot,
    SlotTaken,
    appointment_book,
    appointment_cancel,
    appointment_move,
    appointment_set_status,
    clinicians,
    free_slots,
    patient_clashes,
    working_blocks,
)

SLOT_MINUTES = 15  # one clickable cell of the grid; the booking form takes any five-minute time
DEFAULT_HOURS = (8 * 60, 18 * 60)  # the grid always shows at least this much of the day
EARLIEST_DAY, LATEST_DAY = date(2000, 1, 1), date(2099, 12, 31)
COMPACT_MINUTES = 20  # shorter blocks have room for one line: time, name and status
PATIENT_CHOICES = 10
SLOTS_SHOWN = 80

# What the calendar reads of each appointment: all of it, but only the names of its patient.
APPOINTMENT_COLUMNS = [field.name for field in Appointment._meta.concrete_fields]
PATIENT_NAME_COLUMNS = ("given_name", "family_name", "preferred_name")

# The statuses the desk sets with one click. Cancelling needs a reason, so it has its own form.
ONE_CLICK = {
    AppointmentStatus.ARRIVED: "Arrived",
    AppointmentStatus.IN_TREATMENT: "In treatment",
    AppointmentStatus.COMPLETED: "Completed",
    AppointmentStatus.NO_SHOW: "Did not attend",
}
# Which form field a refusal from the services belongs next to, by its error code.
SERVICE_ERROR_FIELDS = {"past": "starts_at", "outside_hours": "starts_at", "override_reason": "outside_hours_reason"}


# ---------------------------------------------------------------------------------------------
# Query parameters


class BadQuery(Exception):
    """A calendar URL with a parameter that means nothing: answered with 400 and the reason."""


def _bad_query_as_400(view: Callable) -> Callable:
    @wraps(view)
    def guarded(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except BadQuery as error:
            context = {"message": str(error), "retry_url": request.path}
            return render(request, "scheduling/calendar_bad_request.html", context, status=400)

    return guarded


def _day_param(request: HttpRequest) -> date:
    raw = request.GET.get("date", "").strip()
    if not raw:
        return timezone.localdate()
    try:
        day = datetime.strptime(raw, "%Y-%m-%d").date()
    except ValueError:
        raise BadQuery(f"“{raw[:40]}” is not a date. Use the form YYYY-MM-DD, for example 2026-05-12.") from None
    if not EARLIEST_DAY <= day <= LATEST_DAY:
        raise BadQuery(f"Choose a date between {EARLIEST_DAY:%Y} and {LATEST_DAY:%Y}.")
    return day


def _clinician_param(request: HttpRequest, staff: list[User]) -> User | None:
    raw = request.GET.get("clinician", "").strip()
    if raw in ("", "all"):
        return None
    chosen = next((clinician for clinician in staff if str(clinician.pk) == raw), None)
    if chosen is None:
        raise BadQuery(f"There is no clinician “{raw[:40]}”. Choose one from the list, or all clinicians.")
    return chosen


def _patient_param(request: HttpRequest) -> Patient | None:
    """The patient being booked for, carried from page to page so every slot link books them."""
    raw = request.GET.get("patient", "").strip()
    if not raw:
        return None
    patient = Patient.objects.filter(pk=int(raw)).first() if raw.isdigit() else None
    if patient is None:
        raise BadQuery(f"There is no patient “{raw[:40]}”. Open the patient's record and book from there.")
    return patient


def _aware(day: date, minute: int = 0) -> datetime:
    return timezone.make_aware(datetime.combine(day, time(minute // 60, minute % 60)))


def _minute_of(day: date, moment: datetime) -> int:
    """Minutes from the start of `day` on the clinic's wall clock, kept within the day."""
    return _minute_of_local(day, timezone.localtime(moment))


def _minute_of_local(day: date, local: datetime) -> int:
    minutes = (local.date() - day).days * 1440 + local.hour * 60 + local.minute
    return max(0, min(1440, minutes))


def _clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _safe_next(request: HttpRequest, fallback: str) -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    allowed = url_has_allowed_host_and_scheme(candidate, {request.get_host()}, require_https=request.is_secure())
    return candidate if candidate and allowed else fallback


def _calendar_url(name: str, day: date, clinician: User | None = None, **extra) -> str:
    params = {"date": day.isoformat(), **({"clinician": clinician.pk} if clinician else {}), **extra}
    return f"{reverse(name)}?{urlencode(params)}"


# ---------------------------------------------------------------------------------------------
# Laying out the grid


@dataclass
class Diary:
    """Everything the calendar shows for some clinicians over some days, in four queries."""

    hours: list[WorkingHours]
    time_off: list[TimeOff]
    appointments: dict[tuple[int, date], list[Appointment]]


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
    title: str = ""
    link: str = ""
    working: list[tuple[int, int]] = field(default_factory=list)
    time_off: TimeOff | None = None
    live: list[Appointment] = field(default_factory=list)
    cancelled: list[Appointment] = field(default_factory=list)
    cells: list[Cell] = field(default_factory=list)
    now_minute: int | None = None
    chips: str = ""  # the week view's appointments, as HTML

    @property
    def working_spans(self) -> list[tuple[int, int]]:
        return [(start, end - start) for start, end in self.working]

    @property
    def hours_text(self) -> str:
        if self.time_off:
            return f"Time off{': ' + self.time_off.reason if self.time_off.reason else ''}"
        return ", ".join(f"{_clock(start)}\N{EN DASH}{_clock(end)}" for start, end in self.working) or "Not working"


@dataclass(frozen=True)
class BookingLink:
    """Builds each free cell's link to the booking form; the URL is reversed once, not per cell."""

    url: str
    patient: Patient | None

    @classmethod
    def for_patient(cls, patient: Patient | None) -> "BookingLink":
        return cls(reverse("scheduling:book"), patient)

    def to(self, clinician: User, starts_at: str) -> str:
        params = {"patient": self.patient.pk} if self.patient else {}
        return f"{self.url}?{urlencode({**params, 'clinician': clinician.pk, 'starts_at': starts_at})}"


def _load_diary(staff: list[User], first: date, last: date) -> Diary:
    ids = [clinician.pk for clinician in staff]
    hours = list(WorkingHours.objects.filter(clinician__in=ids))
    whose = Q(clinician__in=ids) | Q(clinician__isnull=True)
    time_off = list(TimeOff.objects.filter(whose, starts_on__lte=last, ends_on__gte=first))
    by_id = {clinician.pk: clinician for clinician in staff}
    # A handful of rows: one read, shared by every appointment rather than joined and copied into each.
    kinds = {kind.pk: kind for kind in AppointmentType.objects.all()}
    appointments = (
        Appointment.objects.filter(overlapping(_aware(first), _aware(last + timedelta(days=1))), clinician__in=ids)
        .select_related("patient")
        # The grid shows the patient's name only: reading (and parsing) their three phone numbers and the rest
        # of the record for every block cost more than the rest of the query.
        .only(*APPOINTMENT_COLUMNS, *(f"patient__{name}" for name in PATIENT_NAME_COLUMNS))
        .order_by("starts_at")
    )
    by_column: dict[tuple[int, date], list[Appointment]] = defaultdict(list)
    for appointment in appointments:
        appointment.clinician = by_id[appointment.clinician_id]  # already loaded: no join, no copy per row
        appointment.appointment_type = kinds[appointment.appointment_type_id]
        appointment.local_start = timezone.localtime(appointment.starts_at)
        by_column[appointment.clinician_id, appointment.local_start.date()].append(appointment)
    return Diary(hours, time_off, by_column)


@dataclass(frozen=True)
class AppointmentLinks:
    """An appointment's links, from URLs reversed once per page rather than once per block: a week of
    blocks reversed some four thousand URLs."""

    PLACEHOLDER = "2147483647"
    patterns: dict[str, str]

    @classmethod
    def reversed(cls) -> "AppointmentLinks":
        names = {"url": "appointment", "status_url": "status", "move_url": "move", "cancel_url": "cancel"}
        return cls({key: reverse(f"scheduling:{name}", args=[cls.PLACEHOLDER]) for key, name in names.items()})

    def add_to(self, appointment: Appointment) -> None:
        for key, pattern in self.patterns.items():
            setattr(appointment, key, pattern.replace(self.PLACEHOLDER, str(appointment.pk)))


def _decorate(appointment: Appointment, day: date | None = None, links: AppointmentLinks | None = None) -> Appointment:
    """What the block, the chip and the detail page need: position, times and links, and the actions the
    status allows."""
    (links or AppointmentLinks.reversed()).add_to(appointment)
    # Converted once (the calendar's query already did the start) and reused for the grid position: a busy
    # week has a thousand appointments.
    starts_at = getattr(appointment, "local_start", None) or timezone.localtime(appointment.starts_at)
    ends_at = timezone.localtime(appointment.ends_at)
    appointment.start_label, appointment.end_label = f"{starts_at:%H:%M}", f"{ends_at:%H:%M}"
    appointment.status_label = appointment.get_status_display()
    appointment.name = appointment.patient.full_name
    allowed = TRANSITIONS[AppointmentStatus(appointment.status)]
    appointment.actions = [(status.value, label) for status, label in ONE_CLICK.items() if status in allowed]
    appointment.can_cancel = AppointmentStatus.CANCELLED in allowed
    # Only a booked appointment moves: an arrived or finished one is history, not a plan.
    appointment.can_move = appointment.status == AppointmentStatus.BOOKED
    day = day or starts_at.date()
    appointment.minute = _minute_of_local(day, starts_at)
    appointment.length = max(1, _minute_of_local(day, ends_at) - appointment.minute)
    appointment.compact = appointment.length < COMPACT_MINUTES
    return appointment


# One appointment in the all-clinicians week: a busy week has a thousand, and the template engine took a
# tenth of a millisecond over each; formatted here, the whole week's chips cost a few milliseconds.
CHIP_HTML = (
    '<a class="appt-chip status-{status}" style="--colour: {colour}" href="{url}"'
    ' title="{start}\N{EN DASH}{end} {name}, {kind} ({status_label})">'
    '<span class="st-dot st-{status}" aria-hidden="true"></span><strong>{start}</strong> {name}'
    '<span class="visually-hidden"> ({status_label})</span></a>'
)


def _chip(appointment: Appointment) -> dict:
    """The chip's values, each escaped by format_html_join."""
    return {
        "status": appointment.status,
        "colour": appointment.appointment_type.colour,
        "url": appointment.url,
        "start": appointment.start_label,
        "end": appointment.end_label,
        "name": appointment.name,
        "kind": appointment.appointment_type.name,
        "status_label": appointment.status_label,
    }


def _time_off_on(diary: Diary, clinician: User, day: date) -> TimeOff | None:
    return next(
        (
            off
            for off in diary.time_off
            if off.starts_on <= day <= off.ends_on and off.clinician_id in (None, clinician.pk)
        ),
        None,
    )


def _column(
    clinician: User, day: date, diary: Diary, *, now: datetime, book: BookingLink | None, links: AppointmentLinks
) -> Column:
    column = Column(clinician, day, time_off=_time_off_on(diary, clinician, day))
    if column.time_off is None:
        blocks = working_blocks(clinician, day, diary.hours, diary.time_off)
        column.working = [(_minute_of(day, start), _minute_of(day, end)) for start, end in blocks]
    for appointment in diary.appointments.get((clinician.pk, day), []):
        _decorate(appointment, day, links)
        (column.live if appointment.is_live else column.cancelled).append(appointment)
    if book is not None:
        column.cells = _free_cells(column, now, book)
    if day == timezone.localtime(now).date():
        column.now_minute = _minute_of(day, now)
    return column


def _free_cells(column: Column, now: datetime, book: BookingLink) -> list[Cell]:
    """Clickable cells in working hours that are still ahead and not taken by a live appointment."""
    cells = []
    for block_start, block_end in column.working:
        for minute in range(block_start, block_end, SLOT_MINUTES):
            length = min(SLOT_MINUTES, block_end - minute)
            # Any overlap counts: a cell half-covered by an appointment would only ever lead to a clash.
            taken = any(a.minute < minute + length and minute < a.minute + a.length for a in column.live)
            if taken or _aware(column.day, minute) <= now:
                continue
            starts_at = f"{column.day.isoformat()}T{_clock(minute)}"
            cells.append(Cell(minute, length, _clock(minute), book.to(column.clinician, starts_at)))
    return cells


def _axis(columns: list[Column]) -> tuple[int, int]:
    """Whole hours covering every column's working hours and appointments, and at least 08-18."""
    starts = [DEFAULT_HOURS[0]] + [start for c in columns for start, _ in c.working]
    starts += [a.minute for c in columns for a in c.live]
    ends = [DEFAULT_HOURS[1]] + [end for c in columns for _, end in c.working]
    ends += [a.minute + a.length for c in columns for a in c.live]
    return min(starts) // 60 * 60, min(1440, -(-max(ends) // 60) * 60)


def _grid_context(columns: list[Column]) -> dict:
    axis_start, axis_end = _axis(columns)
    return {
        "columns": columns,
        "axis_start": axis_start,
        "axis_minutes": axis_end - axis_start,
        "hours": [(minute, _clock(minute)) for minute in range(axis_start, axis_end, 60)],
        "cancelled": [appointment for column in columns for appointment in column.cancelled],
    }


# ---------------------------------------------------------------------------------------------
# Calendar pages


def _nav(request: HttpRequest, name: str, day: date, step: int, clinician: User | None, patient) -> dict:
    extra = {"patient": patient.pk} if patient else {}
    return {
        "day": day,
        "today": timezone.localdate(),
        "chosen": clinician,
        "patient": patient,
        "view_name": name,
        "prev_url": _calendar_url(name, day - timedelta(days=step), clinician, **extra),
        "next_url": _calendar_url(name, day + timedelta(days=step), clinician, **extra),
        "today_url": _calendar_url(name, timezone.localdate(), clinician, **extra),
        "day_url": _calendar_url("scheduling:day", day, clinician, **extra),
        "week_url": _calendar_url("scheduling:week", day, clinician, **extra),
        "sheet_url": _calendar_url("scheduling:day_sheet", day, clinician),
        "back": request.get_full_path(),
    }


@permission_required("scheduling.view_appointment")
@_bad_query_as_400
def day_view(request: HttpRequest) -> HttpResponse:
    day = _day_param(request)
    staff = list(clinicians())
    chosen = _clinician_param(request, staff)
    patient = _patient_param(request)
    shown = [chosen] if chosen else staff
    diary = _load_diary(shown, day, day)
    now, book = timezone.now(), BookingLink.for_patient(patient)
    links = AppointmentLinks.reversed()
    columns = [_column(clinician, day, diary, now=now, book=book, links=links) for clinician in shown]
    for column in columns:
        column.title = column.clinician.get_full_name() or column.clinician.username
        column.link = _calendar_url("scheduling:day", day, column.clinician)
    context = {**_nav(request, "scheduling:day", day, 1, chosen, patient), **_grid_context(columns), "staff": staff}
    context["can_change"] = request.user.has_perm("scheduling.change_appointment")
    return render(request, "scheduling/calendar_day.html", context)


def _week_rows(staff: list[User], days: list[date], diary: Diary) -> list[tuple[User, str, list[Column]]]:
    """All clinicians' week: one row each, a compact cell a day; the day view has the detail."""
    now, links = timezone.now(), AppointmentLinks.reversed()
    rows = []
    for clinician in staff:
        row = [_column(clinician, day, diary, now=now, book=None, links=links) for day in days]
        for column in row:
            column.link = _calendar_url("scheduling:day", column.day, clinician)
            column.chips = format_html_join("", CHIP_HTML, (_chip(appointment) for appointment in column.live))
        rows.append((clinician, _calendar_url("scheduling:week", days[0], clinician), row))
    return rows


@permission_required("scheduling.view_appointment")
@_bad_query_as_400
def week_view(request: HttpRequest) -> HttpResponse:
    day = _day_param(request)
    monday = day - timedelta(days=day.weekday())
    days = [monday + timedelta(days=offset) for offset in range(7)]
    staff = list(clinicians())
    chosen = _clinician_param(request, staff)
    patient = _patient_param(request)
    diary = _load_diary([chosen] if chosen else staff, days[0], days[-1])
    context = {**_nav(request, "scheduling:week", day, 7, chosen, patient), "staff": staff, "days": days}
    if chosen is None:
        context["rows"] = _week_rows(staff, days, diary)
        context["day_links"] = [(d, _calendar_url("scheduling:day", d)) for d in days]
        return render(request, "scheduling/calendar_week_all.html", context)
    now, book = timezone.now(), BookingLink.for_patient(patient)
    links = AppointmentLinks.reversed()
    columns = [_column(chosen, d, diary, now=now, book=book, links=links) for d in days]
    for column in columns:
        column.title = f"{column.day:%a %d %b}"
        column.link = _calendar_url("scheduling:day", column.day, chosen)
    context["can_change"] = request.user.has_perm("scheduling.change_appointment")
    return render(request, "scheduling/calendar_week.html", {**context, **_grid_context(columns)})


@permission_required("scheduling.view_appointment")
@_bad_query_as_400
def day_sheet(request: HttpRequest) -> HttpResponse:
    day = _day_param(request)
    staff = list(clinicians())
    chosen = _clinician_param(request, staff)
    shown = [chosen] if chosen else staff
    appointments = (
        Appointment.objects.filter(clinician__in=shown, starts_at__gte=_aware(day))
        .filter(starts_at__lt=_aware(day + timedelta(days=1)))
        .exclude(status=AppointmentStatus.CANCELLED)
        .select_related("patient", "appointment_type")
        .order_by("starts_at", "pk")
    )
    by_clinician = defaultdict(list)
    for appointment in appointments:
        by_clinician[appointment.clinician_id].append(appointment)
    # A sheet for the chosen clinician even on an empty day; otherwise only for those with patients.
    sheets = [(c, by_clinician[c.pk]) for c in shown if chosen or by_clinician[c.pk]]
    context = {"day": day, "chosen": chosen, "staff": staff, "sheets": sheets, "now": timezone.now()}
    context["calendar_url"] = _calendar_url("scheduling:day", day, chosen)
    return render(request, "scheduling/day_sheet.html", context)


# ---------------------------------------------------------------------------------------------
# Booking and moving


def _add_service_error(form, error: ValidationError) -> None:
    field_name = SERVICE_ERROR_FIELDS.get(getattr(error, "code", None) or "")
    form.add_error(field_name if field_name in form.fields else None, error.messages)


def _attempt(form, action: Callable[[], Appointment]) -> tuple[Appointment | None, list[Slot] | None]:
    """Run a booking service; its refusals become form errors, a taken slot also its alternatives
    (an empty list when there are none nearby, None when the slot was not the problem)."""
    try:
        return action(), None
    except SlotTaken as taken:
        form.add_error(None, taken.messages)
        return None, taken.alternatives
    except ValidationError as error:
        _add_service_error(form, error)
        return None, None


def _with_alternative(data):
    """The one-click alternative buttons re-submit the whole form with their clinician and time."""
    chosen = data.get("alternative", "")
    clinician_pk, _, starts_at = chosen.partition("@")
    if not (clinician_pk.isdigit() and starts_at):
        return data
    data = data.copy()
    data["clinician"], data["starts_at"] = clinician_pk, starts_at
    data.pop("confirm_clash", None)  # a new time needs a fresh look at clashes
    return data


def _alternatives(slots: list[Slot] | None) -> list[tuple[str, str]] | None:
    if slots is None:
        return None
    return [
        (
            f"{slot.clinician.pk}@{timezone.localtime(slot.starts_at).strftime(DATETIME_LOCAL)}",
            f"{timezone.localtime(slot.starts_at):%a %d %b, %H:%M} with {slot.clinician.get_full_name()}",
        )
        for slot in slots
    ]


def _other_clinician_clashes(patient, clinician, starts_at, minutes, exclude=None) -> list[Appointment]:
    """The patient's live appointments with someone else at the same time: a warning, not a refusal.
    (With the same clinician the database refuses the booking anyway.)"""
    ends_at = starts_at + timedelta(minutes=minutes)
    clashes = patient_clashes(patient, starts_at, ends_at, exclude=exclude).select_related("appointment_type")
    return [clash for clash in clashes if clash.clinician_id != clinician.pk]


def _landing(appointment: Appointment) -> str:
    day = timezone.localtime(appointment.starts_at).date()
    return f"{_calendar_url('scheduling:day', day, appointment.clinician)}#appointment-{appointment.pk}"


def _booked_message(appointment: Appointment, verb: str) -> str:
    when = timezone.localtime(appointment.starts_at)
    who = appointment.clinician.get_full_name() or appointment.clinician.username
    return f"{appointment.patient.full_name} {verb} with {who} on {when:%a %d %b} at {when:%H:%M}."


def _keep(source) -> list[tuple[str, str]]:
    """The slot being booked, kept in links and hidden inputs while the patient is chosen."""
    return [(name, source[name]) for name in ("clinician", "starts_at", "appointment_type") if source.get(name)]


def _patient_choices(request: HttpRequest) -> dict:
    """Patients matching the search box, each linked to this page with the slot kept."""
    query = " ".join(request.GET.get("q", "").split())[:100]
    found = list(patient_search(query)[:PATIENT_CHOICES]) if query else []
    keep = _keep(request.GET)
    return {"query": query, "found": found, "keep": keep, "keep_query": urlencode(keep)}


@permission_required("scheduling.add_appointment")
@vary_on_headers("HX-Target")
def book(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        return _book_post(request)
    context = _patient_choices(request)
    if request.headers.get("HX-Target") == "patient-choices":
        return render(request, "scheduling/booking_patient_choices.html", context)
    prefilled = ("clinician", "appointment_type", "starts_at")
    initial = {name: request.GET[name] for name in prefilled if name in request.GET}
    patient = _chosen_patient(request)
    if patient is not None:
        initial.update(patient=patient.pk, course=request.GET.get("course"))
    form = BookingForm(initial=initial, user=request.user)
    context.update(form=form, patient=patient, slot=_slot_summary(request.GET))
    return render(request, "scheduling/booking_form.html", context)


def _slot_summary(params) -> str:
    """The calendar cell that was clicked, in words: "Emma Hughes, Wed 25 Nov at 15:00"."""
    try:
        starts_at = datetime.strptime(params.get("starts_at", ""), DATETIME_LOCAL)
    except ValueError:
        return ""
    raw = params.get("clinician", "")
    clinician = clinicians().filter(pk=int(raw)).first() if raw.isdigit() else None
    who = f"{clinician.get_full_name()}, " if clinician else ""
    return f"{who}{starts_at:%a %d %b} at {starts_at:%H:%M}"


def _chosen_patient(request: HttpRequest) -> Patient | None:
    raw = request.GET.get("patient", "")
    if not raw.isdigit():
        return None
    return get_patient_for(request.user, int(raw))


def _book_post(request: HttpRequest) -> HttpResponse:
    form = BookingForm(_with_alternative(request.POST), user=request.user)
    alternatives, clashes = None, []
    if form.is_valid():
        data = form.cleaned_data
        if not data["confirm_clash"]:
            clashes = _other_clinician_clashes(
                data["patient"], data["clinician"], data["starts_at"], data["appointment_type"].duration_minutes
            )
        if not clashes:
            kwargs = _booking_kwargs(data)
            appointment, alternatives = _attempt(form, lambda: appointment_book(**kwargs, by=request.user))
            if appointment is not None:
                messages.success(request, _booked_message(appointment, "booked"))
                return redirect(_landing(appointment))
    keep = _keep(request.POST)
    context = {
        "form": form,
        "patient": form.cleaned_data.get("patient"),
        "alternatives": _alternatives(alternatives),
        "clashes": clashes,
        "keep": keep,
        "keep_query": urlencode(keep),
    }
    return render(request, "scheduling/booking_form.html", context)


def _booking_kwargs(data: dict) -> dict:
    keys = ("patient", "clinician", "appointment_type", "starts_at", "notes", "course", "outside_hours_reason")
    return {key: data[key] for key in keys if key in data}


@permission_required("scheduling.change_appointment")
def move(request: HttpRequest, pk: int) -> HttpResponse:
    appointment = _decorate(get_appointment_for(request.user, pk))
    if not appointment.can_move:
        message = f"This appointment is {appointment.get_status_display().lower()}: only a booked one can be moved."
        return _detail_page(request, appointment, error=message, status=409)
    if request.method == "POST":
        return _move_post(request, appointment)
    initial = {
        "clinician": request.GET.get("clinician") or appointment.clinician_id,
        "starts_at": request.GET.get("starts_at") or timezone.localtime(appointment.starts_at),
    }
    form = MoveForm(initial=initial, user=request.user)
    context = {"form": form, "appointment": appointment, "dropped": "starts_at" in request.GET}
    return render(request, "scheduling/booking_move.html", context)


def _move_post(request: HttpRequest, appointment: Appointment) -> HttpResponse:
    form = MoveForm(_with_alternative(request.POST), user=request.user)
    alternatives, clashes = None, []
    if form.is_valid():
        data = form.cleaned_data
        minutes = int((appointment.ends_at - appointment.starts_at).total_seconds() // 60)
        if not data["confirm_clash"]:
            clashes = _other_clinician_clashes(
                appointment.patient, data["clinician"], data["starts_at"], minutes, exclude=appointment.pk
            )
        if not clashes:
            kwargs = {key: data[key] for key in ("clinician", "starts_at", "outside_hours_reason") if key in data}
            moved, alternatives = _attempt(
                form, lambda: appointment_move(appointment=appointment, by=request.user, **kwargs)
            )
            if moved is not None:
                messages.success(request, _booked_message(moved, "moved"))
                return redirect(_landing(moved))
    # A refused move may have changed the instance in memory; show the appointment as it is stored.
    appointment = _decorate(get_appointment_for(request.user, appointment.pk))
    context = {
        "form": form,
        "appointment": appointment,
        "alternatives": _alternatives(alternatives),
        "clashes": clashes,
    }
    return render(request, "scheduling/booking_move.html", context)


# ---------------------------------------------------------------------------------------------
# One appointment: detail, status, cancel


def _detail_page(request: HttpRequest, appointment: Appointment, *, error: str = "", status: int = 200, form=None):
    context = {
        "appointment": _decorate(appointment),
        "error": error,
        "cancel_form": form or CancelForm(),
        "back": _safe_next(request, reverse("scheduling:appointment", args=[appointment.pk])),
        "calendar_url": _landing(appointment),
        "history": appointment.patient.appointments.select_related("appointment_type", "clinician").order_by(
            "-starts_at"
        )[:10],
    }
    return render(request, "scheduling/booking_detail.html", context, status=status)


@permission_required("scheduling.view_appointment")
def appointment_detail(request: HttpRequest, pk: int) -> HttpResponse:
    appointment = get_appointment_for(request.user, pk)
    # The page shows the appointment's notes and the patient's other appointments.
    record_page_view(request, Action.RECORD_VIEWED, patient=appointment.patient_id, obj=appointment)
    return _detail_page(request, appointment)


def _status_answer(request: HttpRequest, appointment: Appointment, *, error: str = "", status: int = 200):
    """htmx gets the updated block (with the refusal inside it); a plain form post goes back."""
    back = _safe_next(request, reverse("scheduling:appointment", args=[appointment.pk]))
    if request.headers.get("HX-Request"):
        context = {"appointment": _decorate(appointment), "error": error, "back": back}
        context["can_change"] = request.user.has_perm("scheduling.change_appointment")
        return render(request, "scheduling/_appointment_block.html", context, status=status)
    if status == 409:
        return _detail_page(request, appointment, error=error, status=409)
    if error:
        messages.error(request, error)
    else:
        messages.success(request, f"{appointment.patient.full_name}: {appointment.get_status_display().lower()}.")
    return redirect(back)


@require_POST
@permission_required("scheduling.change_appointment")
def appointment_status(request: HttpRequest, pk: int) -> HttpResponse:
    appointment = get_appointment_for(request.user, pk)
    status = request.POST.get("status", "")
    if status not in ONE_CLICK:
        error = "Choose arrived, in treatment, completed or did not attend. Cancelling needs a reason: use Cancel."
        return _status_answer(request, appointment, error=error, status=400)
    try:
        appointment_set_status(appointment=appointment, status=status, by=request.user)
    except ValidationError as refusal:
        return _status_answer(request, appointment, error=" ".join(refusal.messages), status=409)
    return _status_answer(request, get_appointment_for(request.user, pk))


@permission_required("scheduling.change_appointment")
def cancel(request: HttpRequest, pk: int) -> HttpResponse:
    appointment = _decorate(get_appointment_for(request.user, pk))
    form = CancelForm(request.POST or None)
    status = 200
    if not appointment.can_cancel:
        form.add_error(None, f"This appointment is {appointment.get_status_display().lower()}: it cannot be cancelled.")
        status = 409
    elif request.method == "POST" and form.is_valid():
        try:
            appointment_cancel(appointment=appointment, reason=form.cleaned_data["reason"], by=request.user)
        except ValidationError as refusal:
            form.add_error(None, refusal.messages)
            status = 409
        else:
            messages.success(request, f"Appointment for {appointment.patient.full_name} cancelled.")
            return redirect(_safe_next(request, _landing(appointment)))
    context = {"appointment": appointment, "form": form, "back": _safe_next(request, "")}
    return render(request, "scheduling/booking_cancel.html", context, status=status)


# ---------------------------------------------------------------------------------------------
# Finding a free slot


def _first_of_each_run_or_quarter(slots: list[Slot]) -> list[Slot]:
    """free_slots answers every five minutes; the desk wants quarter hours, plus the first time
    after each busy stretch (10:20 right after a 20-minute session), so no gap is hidden."""
    free = {(slot.clinician.pk, slot.starts_at) for slot in slots}
    step = timedelta(minutes=5)
    return [
        slot
        for slot in slots
        if timezone.localtime(slot.starts_at).minute % 15 == 0 or (slot.clinician.pk, slot.starts_at - step) not in free
    ]


def _slot_groups(slots: list[Slot], url: str, book_params: dict) -> list[tuple[date, list[tuple[User, list]]]]:
    """Slots by day, then by clinician, each with its booking link."""
    linked = []
    for slot in slots:
        query = {**book_params, "clinician": slot.clinician.pk}
        query["starts_at"] = timezone.localtime(slot.starts_at).strftime(DATETIME_LOCAL)
        linked.append((timezone.localtime(slot.starts_at).date(), slot, f"{url}?{urlencode(query)}"))
    days = []
    for day, in_day in groupby(linked, key=lambda item: item[0]):
        by_clinician = defaultdict(list)
        for _, slot, link in in_day:
            by_clinician[slot.clinician].append((slot, link))
        days.append((day, sorted(by_clinician.items(), key=lambda item: (item[0].last_name, item[0].first_name))))
    return days


def _search_slots(data: dict) -> tuple[list, bool]:
    staff = [data["clinician"]] if data["clinician"] else list(clinicians())
    slots = free_slots(
        appointment_type=data["appointment_type"],
        clinician_choices=staff,
        start=_aware(data["date_from"]),
        until=_aware(data["date_to"] + timedelta(days=1)),
        limit=SLOTS_SHOWN * 8,
    )
    shown = _first_of_each_run_or_quarter(slots)
    book_params = {"appointment_type": data["appointment_type"].pk}
    if data.get("patient"):
        book_params["patient"] = data["patient"]
    return _slot_groups(shown[:SLOTS_SHOWN], reverse("scheduling:book"), book_params), len(shown) > SLOTS_SHOWN


@permission_required("scheduling.view_appointment")
def slots(request: HttpRequest) -> HttpResponse:
    searched = "appointment_type" in request.GET
    initial = {**SlotSearchForm.defaults(), "patient": request.GET.get("patient")}
    form = SlotSearchForm(request.GET if searched else None, initial=initial)
    groups, more = [], False
    if searched and form.is_valid():
        groups, more = _search_slots(form.cleaned_data)
    patient = _chosen_patient(request)
    context = {"form": form, "groups": groups, "more": more, "searched": searched, "patient": patient}
    return render(request, "scheduling/slots_find.html", context, status=200)


urlpatterns = [
    path("calendar/day/", day_view, name="day"),
    path("calendar/week/", week_view, name="week"),
    path("calendar/day-sheet/", day_sheet, name="day_sheet"),
    path("appointments/book/", book, name="book"),
    path("appointments/slots/", slots, name="slots"),
    path("appointments/<int:pk>/", appointment_detail, name="appointment"),
    path("appointments/<int:pk>/move/", move, name="move"),
    path("appointments/<int:pk>/status/", appointment_status, name="status"),
    path("appointments/<int:pk>/cancel/", cancel, name="cancel"),
]
