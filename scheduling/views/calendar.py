"""The front desk's diary: day and week calendars, booking, moving, one-click status changes,
the printable day sheet and the free-slot finder.

The booking rules live in scheduling.services; these views only translate between them and
the forms. Calendar pages load everything in a fixed handful of queries (clinicians, working
hours, time off, appointments) and lay the grid out in Python, so a busy day costs no more
than a quiet one.
"""

from collections import defaultdict
from collections.abc import Callable
from datetime import date, datetime, timedelta
from functools import wraps
from itertools import groupby
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import path, reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from accounts.decorators import AuthenticatedHttpRequest, permission_required
from accounts.models import User
from audit.models import Action
from audit.services import record_page_view
from patients.access import get_patient_for
from patients.models import Patient
from patients.search import patient_search
from pit_portal.ids import parse_id
from scheduling.access import get_appointment_for
from scheduling.forms import DATETIME_LOCAL, BookingForm, CancelForm, MoveForm, SlotSearchForm
from scheduling.models import Appointment, AppointmentStatus
from scheduling.services import (
    PATIENT_NOT_PROCESSABLE,
    Slot,
    SlotTaken,
    appointment_book,
    appointment_cancel,
    appointment_move,
    appointment_set_status,
    calendar_clinicians,
    clinicians,
    free_slots,
    patient_clashes,
)
from scheduling.views import grid
from scheduling.views.calendar_cache import cached_calendar, cached_each, calendar_key, content_key

EARLIEST_DAY, LATEST_DAY = date(2000, 1, 1), date(2099, 12, 31)
PATIENT_CHOICES = 10
SLOTS_SHOWN = 80

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


def _day_and_clinician(request: AuthenticatedHttpRequest) -> tuple[date, list[User], User | None]:
    """The day asked for (today by default), the calendars' clinicians, and the one chosen (None for all)."""
    raw = request.GET.get("date", "").strip()
    try:
        day = datetime.strptime(raw, "%Y-%m-%d").date() if raw else timezone.localdate()
    except ValueError:
        raise BadQuery(f"“{raw[:40]}” is not a date. Use the form YYYY-MM-DD, for example 2026-05-12.") from None
    if not EARLIEST_DAY <= day <= LATEST_DAY:
        raise BadQuery(f"Choose a date between {EARLIEST_DAY:%Y} and {LATEST_DAY:%Y}.")
    staff = calendar_clinicians()
    raw = request.GET.get("clinician", "").strip()
    chosen = next((clinician for clinician in staff if str(clinician.pk) == raw), None)
    if chosen is None and raw not in ("", "all"):
        raise BadQuery(f"There is no clinician “{raw[:40]}”. Choose one from the list, or all clinicians.")
    return day, staff, chosen


def _patient_param(request: AuthenticatedHttpRequest) -> Patient | None:
    """The patient being booked for, carried from page to page so every slot link books them."""
    raw = request.GET.get("patient", "").strip()
    patient_id = parse_id(raw)
    patient = Patient.objects.filter(pk=patient_id).first() if patient_id else None
    if raw and patient is None:
        raise BadQuery(f"There is no patient “{raw[:40]}”. Open the patient's record and book from there.")
    if patient is not None and not patient.is_processable:
        raise BadQuery(PATIENT_NOT_PROCESSABLE)
    return patient


def _chosen_patient(request: AuthenticatedHttpRequest) -> Patient | None:
    """The booking form's and slot finder's ?patient=, if this user may see that patient (404 otherwise)."""
    patient_id = parse_id(request.GET.get("patient"))
    return get_patient_for(request.user, patient_id) if patient_id is not None else None


def _safe_next(request: AuthenticatedHttpRequest, fallback: str) -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    allowed = url_has_allowed_host_and_scheme(candidate, {request.get_host()}, require_https=request.is_secure())
    return candidate if candidate and allowed else fallback


def _calendar_url(name: str, day: date, clinician: User | None = None, patient: Patient | None = None) -> str:
    params: dict[str, object] = {"date": day.isoformat()}
    if clinician:
        params["clinician"] = clinician.pk
    if patient:
        params["patient"] = patient.pk
    return f"{reverse(name)}?{urlencode(params)}"


def _can_change(request: AuthenticatedHttpRequest) -> bool:
    return request.user.has_perm("scheduling.change_appointment")


# ---------------------------------------------------------------------------------------------
# Calendar pages


def _block(entry: grid.Entry, *, can_change: bool, back_query: str, error: str = "") -> str:
    """One appointment's block on the time grid."""
    context = {"appointment": entry.appointment, "entry": entry, "can_change": can_change, "back_query": back_query}
    return render_to_string("scheduling/_appointment_block.html", {**context, "error": error})


def _shown(entry: grid.Entry) -> tuple:
    """Everything an appointment's block shows of it (the clinic's zone included, in its local times)."""
    appointment, kind = entry.appointment, entry.appointment.appointment_type
    starts_at, ends_at = timezone.localtime(appointment.starts_at), timezone.localtime(appointment.ends_at)
    return (appointment.pk, appointment.status, starts_at, ends_at, kind.colour, kind.name,
            appointment.patient.full_name, appointment.notes, entry.compact)  # fmt: skip


def _render_blocks(entries: list[grid.Entry], *, can_change: bool, back_query: str, every_day: int) -> None:
    """Each appointment's block, kept in the cache by what it shows: after a change to a busy day, the other
    appointments' blocks come from the cache rather than being rendered again."""
    by_pk = {entry.appointment.pk: entry for entry in entries}
    keys = {pk: content_key("block", _shown(entry), can_change, back_query, every_day) for pk, entry in by_pk.items()}
    blocks = cached_each(keys, lambda pk: _block(by_pk[pk], can_change=can_change, back_query=back_query))
    for pk, entry in by_pk.items():
        entry.block = blocks[pk]


def _cached_grid(
    name: str, days: list[date], staff: list[User], chosen: User | None, patient: Patient | None, can_change: bool
) -> dict:
    """The time grid of a day's clinicians or of one clinician's week, a column for each, with its cancellations,
    rendered once for each state of the diary (scheduling.views.calendar_cache). Clinicians' names are not in its
    key: renaming one moves the diary's ALL_DAYS version."""
    back = _calendar_url(f"scheduling:{name}", days[0], chosen, patient)  # the same for everyone who sees it
    key = calendar_key(name, days[0], days[-1], tuple(clinician.pk for clinician in staff), can_change, back)

    def render_grid() -> dict:
        diary = grid.Diary.load(staff, days[0], days[-1])
        now, booking = timezone.localtime(), {"patient": patient.pk} if patient else {}
        columns = [grid.column(c, day, diary, local_now=now, booking=booking) for day in days for c in staff]
        live = [entry for column in columns for entry in column.live]
        back_query = urlencode({"next": back})
        _render_blocks(live, can_change=can_change, back_query=back_query, every_day=key.every_day)
        context = {**grid.grid_context(columns), "can_change": can_change, "whole_week": len(days) > 1}
        return {
            "grid": render_to_string("scheduling/calendar_grid.html", context),
            "cancelled": render_to_string("scheduling/_cancelled_list.html", context),
        }

    return cached_calendar(key, render_grid)


def _nav(request: AuthenticatedHttpRequest, name: str, day: date, step: int, clinician: User | None, patient) -> dict:
    """The toolbar's context (scheduling/calendar_nav.html) and the page's way back."""
    for_patient = f"?{urlencode({'patient': patient.pk})}" if patient else ""
    is_day = name == "scheduling:day"
    return {
        "day": day,
        "today": timezone.localdate(),
        "chosen": clinician,
        "patient": patient,
        "is_day": is_day,
        "unit": "day" if is_day else "week",
        "prev_url": _calendar_url(name, day - timedelta(days=step), clinician, patient),
        "next_url": _calendar_url(name, day + timedelta(days=step), clinician, patient),
        "today_url": _calendar_url(name, timezone.localdate(), clinician, patient),
        "day_url": _calendar_url("scheduling:day", day, clinician, patient),
        "week_url": _calendar_url("scheduling:week", day, clinician, patient),
        "sheet_url": _calendar_url("scheduling:day_sheet", day, clinician),
        "slots_url": reverse("scheduling:slots") + for_patient,
        "book_url": reverse("scheduling:book") + for_patient,
        "stop_booking_url": _calendar_url(name, day, clinician),
        "can_book": request.user.has_perm("scheduling.add_appointment"),
        "back": request.get_full_path(),
    }


@permission_required("scheduling.view_appointment")
@_bad_query_as_400
def day_view(request: AuthenticatedHttpRequest) -> HttpResponse:
    day, staff, chosen = _day_and_clinician(request)
    patient = _patient_param(request)
    shown = [chosen] if chosen else staff
    day_grid = _cached_grid("day", [day], shown, chosen, patient, _can_change(request))
    context = {**_nav(request, "scheduling:day", day, 1, chosen, patient), "staff": staff, "has_columns": bool(shown)}
    return render(request, "scheduling/calendar_day.html", {**context, **day_grid})


def _render_week_all(staff: list[User], days: list[date]) -> str:
    """All clinicians' week: one row each, a compact cell a day; the day view has the detail."""
    diary = grid.Diary.load(staff, days[0], days[-1])
    now = timezone.localtime()
    rows = [
        (clinician, [grid.column(clinician, day, diary, local_now=now, booking=None) for day in days])
        for clinician in staff
    ]
    context = {"rows": rows, "days": days, "today": timezone.localdate()}
    return render_to_string("scheduling/week_all_table.html", context)


@permission_required("scheduling.view_appointment")
@_bad_query_as_400
def week_view(request: AuthenticatedHttpRequest) -> HttpResponse:
    day, staff, chosen = _day_and_clinician(request)
    patient = _patient_param(request)
    monday = day - timedelta(days=day.weekday())
    days = [monday + timedelta(days=offset) for offset in range(7)]
    context = {**_nav(request, "scheduling:week", day, 7, chosen, patient), "staff": staff, "days": days}
    if chosen is None:
        key = calendar_key("week", monday, days[-1], tuple(clinician.pk for clinician in staff))
        context["table"] = cached_calendar(key, lambda: _render_week_all(staff, days))
        return render(request, "scheduling/calendar_week_all.html", context)
    week_grid = _cached_grid("week", days, [chosen], chosen, patient, _can_change(request))
    return render(request, "scheduling/calendar_week.html", {**context, **week_grid})


@permission_required("scheduling.view_appointment")
@_bad_query_as_400
def day_sheet(request: AuthenticatedHttpRequest) -> HttpResponse:
    day, staff, chosen = _day_and_clinician(request)
    shown = [chosen] if chosen else staff
    appointments = (
        Appointment.objects.filter(clinician__in=shown, starts_at__gte=grid.aware(day))
        .filter(starts_at__lt=grid.aware(day + timedelta(days=1)))
        .exclude(status=AppointmentStatus.CANCELLED)
        .select_related("patient", "appointment_type")
        .order_by("starts_at", "pk")
    )
    by_clinician = defaultdict(list)
    for appointment in appointments:
        by_clinician[appointment.clinician_id].append(appointment)
    # A sheet for the chosen clinician even on an empty day; otherwise only for those with patients.
    sheets = [(c, by_clinician[c.pk]) for c in shown if chosen or by_clinician[c.pk]]
    context: dict[str, object] = {"day": day, "chosen": chosen, "staff": staff, "sheets": sheets, "now": timezone.now()}
    context["calendar_url"] = _calendar_url("scheduling:day", day, chosen)
    return render(request, "scheduling/day_sheet.html", context)


# ---------------------------------------------------------------------------------------------
# Booking and moving


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


def _other_clinician_clashes(data: dict, moving: Appointment | None) -> list[Appointment]:
    """The patient's live appointments with someone else at the time asked for: a warning, not a refusal.
    (With the same clinician the database refuses the booking anyway.)"""
    if moving is None:
        patient, length = data["patient"], timedelta(minutes=data["appointment_type"].duration_minutes)
    else:
        patient, length = moving.patient, moving.ends_at - moving.starts_at
    starts_at, exclude = data["starts_at"], moving.pk if moving else None
    clashes = patient_clashes(patient, starts_at, starts_at + length, exclude=exclude)
    return [clash for clash in clashes.select_related("appointment_type") if clash.clinician_id != data["clinician"].pk]


def _book_or_move(
    request: AuthenticatedHttpRequest, form: BookingForm | MoveForm, moving: Appointment | None = None
) -> HttpResponse | dict:
    """Book from the form (or move `moving`) through the services. A saved appointment is announced and shown on
    its calendar (the response); otherwise the answer is the page's form and notices: the patient's appointments
    with other clinicians at that time, until "Book anyway" confirms them, and the nearest free times after a
    taken slot (an empty list when there are none nearby, None when the slot was not the problem)."""
    notices: dict[str, object] = {"form": form, "alternatives": None, "clashes": []}
    if not form.is_valid():
        return notices
    data = form.cleaned_data
    if not data["confirm_clash"]:
        notices["clashes"] = _other_clinician_clashes(data, moving)
        if notices["clashes"]:
            return notices
    times = {key: data[key] for key in ("clinician", "starts_at", "outside_hours_reason") if key in data}
    try:
        if moving is None:
            booking = {key: data[key] for key in ("patient", "appointment_type", "notes", "course") if key in data}
            appointment = appointment_book(**times, **booking, by=request.user)
        else:
            appointment = appointment_move(appointment=moving, by=request.user, **times)
    except ValidationError as refusal:
        if getattr(refusal, "code", None) == "processing_restricted":
            notices["status"] = 409
        field_name = SERVICE_ERROR_FIELDS.get(getattr(refusal, "code", None) or "")
        form.add_error(field_name if field_name in form.fields else None, refusal.messages)
        if isinstance(refusal, SlotTaken):
            notices["alternatives"] = _alternatives(refusal.alternatives)
        return notices
    when = timezone.localtime(appointment.starts_at)
    who = appointment.clinician.get_full_name() or appointment.clinician.username
    verb = "moved" if moving else "booked"
    messages.success(request, f"{appointment.patient.full_name} {verb} with {who} on {when:%a %d %b} at {when:%H:%M}.")
    return redirect(_landing(appointment))


def _landing(appointment: Appointment) -> str:
    day = timezone.localtime(appointment.starts_at).date()
    return f"{_calendar_url('scheduling:day', day, appointment.clinician)}#appointment-{appointment.pk}"


def _kept(source) -> dict:
    """The slot being booked, kept in links and hidden inputs while the patient is chosen."""
    keep = [(name, source[name]) for name in ("clinician", "starts_at", "appointment_type") if source.get(name)]
    return {"keep": keep, "keep_query": urlencode(keep)}


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


@permission_required("scheduling.add_appointment")
@vary_on_headers("HX-Target")
def book(request: AuthenticatedHttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = BookingForm(_with_alternative(request.POST), user=request.user)
        answer = _book_or_move(request, form)
        if isinstance(answer, HttpResponse):
            return answer
        context = {**answer, "patient": form.cleaned_data.get("patient"), **_kept(request.POST)}
        return render(request, "scheduling/booking_form.html", context, status=context.pop("status", 200))
    # The patient search box: patients matching it, each linked to this page with the slot kept.
    query = " ".join(request.GET.get("q", "").split())[:100]
    found = list(patient_search(query)[:PATIENT_CHOICES]) if query else []
    context = {"query": query, "found": found, **_kept(request.GET)}
    if request.headers.get("HX-Target") == "patient-choices":
        return render(request, "scheduling/booking_patient_choices.html", context)
    prefilled = ("clinician", "appointment_type", "starts_at")
    initial: dict[str, object] = {name: request.GET[name] for name in prefilled if name in request.GET}
    patient = _chosen_patient(request)
    status = 200
    if patient is not None:
        initial.update(patient=patient.pk, course=request.GET.get("course"))
        if not patient.is_processable:
            messages.error(request, PATIENT_NOT_PROCESSABLE)
            status = 409
    form = BookingForm(initial=initial, user=request.user)
    context.update(form=form, patient=patient, slot=_slot_summary(request.GET))
    return render(request, "scheduling/booking_form.html", context, status=status)


@permission_required("scheduling.change_appointment")
def move(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    appointment = get_appointment_for(request.user, pk)
    if not grid.STATUS_ACTIONS[appointment.status].can_move:
        message = f"This appointment is {appointment.get_status_display().lower()}: only a booked one can be moved."
        return _detail_page(request, appointment, error=message, status=409)
    if request.method == "POST":
        # A refused move leaves `appointment` as it is stored: the services lock and change a fresh copy.
        answer = _book_or_move(request, MoveForm(_with_alternative(request.POST), user=request.user), appointment)
        if isinstance(answer, HttpResponse):
            return answer
        return render(request, "scheduling/booking_move.html", {**answer, "appointment": appointment})
    initial = {
        "clinician": request.GET.get("clinician") or appointment.clinician_id,
        "starts_at": request.GET.get("starts_at") or timezone.localtime(appointment.starts_at),
    }
    form = MoveForm(initial=initial, user=request.user)
    context = {"form": form, "appointment": appointment, "dropped": "starts_at" in request.GET}
    return render(request, "scheduling/booking_move.html", context)


# ---------------------------------------------------------------------------------------------
# One appointment: detail, status, cancel


def _detail_page(request: AuthenticatedHttpRequest, appointment: Appointment, *, error: str = "", status: int = 200):
    context = {
        "appointment": appointment,
        "allowed": grid.STATUS_ACTIONS[appointment.status],
        "error": error,
        "cancel_form": CancelForm(),
        "back": _safe_next(request, reverse("scheduling:appointment", args=[appointment.pk])),
        "calendar_url": _landing(appointment),
        "history": appointment.patient.appointments.select_related("appointment_type", "clinician").order_by(
            "-starts_at"
        )[:10],
    }
    return render(request, "scheduling/booking_detail.html", context, status=status)


@permission_required("scheduling.view_appointment")
def appointment_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    appointment = get_appointment_for(request.user, pk)
    # The page shows the appointment's notes and the patient's other appointments.
    record_page_view(request, Action.RECORD_VIEWED, patient=appointment.patient_id, obj=appointment)
    return _detail_page(request, appointment)


def _status_answer(request: AuthenticatedHttpRequest, appointment: Appointment, *, error: str = "", status: int = 200):
    """htmx gets the updated block (with the refusal inside it); a plain form post goes back."""
    back = _safe_next(request, reverse("scheduling:appointment", args=[appointment.pk]))
    if request.headers.get("HX-Request"):
        entry, back_query = grid.Entry.of(appointment), urlencode({"next": back})
        block = _block(entry, can_change=_can_change(request), back_query=back_query, error=error)
        return HttpResponse(block, status=status)
    if status == 409:
        return _detail_page(request, appointment, error=error, status=409)
    if error:
        messages.error(request, error)
    else:
        messages.success(request, f"{appointment.patient.full_name}: {appointment.get_status_display().lower()}.")
    return redirect(back)


@require_POST
@permission_required("scheduling.change_appointment")
def appointment_status(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    appointment = get_appointment_for(request.user, pk)
    status = request.POST.get("status", "")
    if status not in grid.ONE_CLICK:
        error = "Choose arrived, in treatment, completed or did not attend. Cancelling needs a reason: use Cancel."
        return _status_answer(request, appointment, error=error, status=400)
    try:
        appointment_set_status(appointment=appointment, status=status, by=request.user)
    except ValidationError as refusal:
        return _status_answer(request, appointment, error=" ".join(refusal.messages), status=409)
    return _status_answer(request, get_appointment_for(request.user, pk))


@require_GET
@permission_required("scheduling.change_appointment")
def appointment_menu(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """The items of the appointment's menu on the calendar, for htmx to put in when the menu is first opened."""
    appointment = get_appointment_for(request.user, pk)
    back = _safe_next(request, reverse("scheduling:day"))
    context = {"appointment": appointment, "allowed": grid.STATUS_ACTIONS[appointment.status], "back": back}
    return render(request, "scheduling/_appointment_menu.html", {**context, "back_query": urlencode({"next": back})})


@permission_required("scheduling.change_appointment")
def cancel(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    appointment = get_appointment_for(request.user, pk)
    allowed = grid.STATUS_ACTIONS[appointment.status]
    form = CancelForm(request.POST or None)
    status = 200
    if not allowed.can_cancel:
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
    context = {"appointment": appointment, "allowed": allowed, "form": form, "back": _safe_next(request, "")}
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


def _slot_groups(slots: list[Slot], book_params: dict) -> list[tuple[date, list[tuple[User, list]]]]:
    """Slots by day, then by clinician, each with its booking link."""
    url, days = reverse("scheduling:book"), []
    for day, in_day in groupby(slots, key=lambda slot: timezone.localtime(slot.starts_at).date()):
        by_clinician = defaultdict(list)
        for slot in in_day:
            starts_at = timezone.localtime(slot.starts_at).strftime(DATETIME_LOCAL)
            query = {**book_params, "clinician": slot.clinician.pk, "starts_at": starts_at}
            by_clinician[slot.clinician].append((slot, f"{url}?{urlencode(query)}"))
        days.append((day, sorted(by_clinician.items(), key=lambda item: (item[0].last_name, item[0].first_name))))
    return days


def _search_slots(data: dict) -> tuple[list, bool]:
    staff = [data["clinician"]] if data["clinician"] else list(clinicians())
    slots = free_slots(
        appointment_type=data["appointment_type"],
        clinician_choices=staff,
        start=grid.aware(data["date_from"]),
        until=grid.aware(data["date_to"] + timedelta(days=1)),
        limit=SLOTS_SHOWN * 8,
    )
    shown = _first_of_each_run_or_quarter(slots)
    book_params = {"appointment_type": data["appointment_type"].pk}
    if data.get("patient"):
        book_params["patient"] = data["patient"]
    return _slot_groups(shown[:SLOTS_SHOWN], book_params), len(shown) > SLOTS_SHOWN


@permission_required("scheduling.view_appointment")
def slots(request: AuthenticatedHttpRequest) -> HttpResponse:
    searched = "appointment_type" in request.GET
    initial = {**SlotSearchForm.defaults(), "patient": request.GET.get("patient")}
    form = SlotSearchForm(request.GET if searched else None, initial=initial)
    groups, more = _search_slots(form.cleaned_data) if searched and form.is_valid() else ([], False)
    context = {"form": form, "groups": groups, "more": more, "searched": searched, "patient": _chosen_patient(request)}
    return render(request, "scheduling/slots_find.html", context)


urlpatterns = [
    path("calendar/day/", day_view, name="day"),
    path("calendar/week/", week_view, name="week"),
    path("calendar/day-sheet/", day_sheet, name="day_sheet"),
    path("appointments/book/", book, name="book"),
    path("appointments/slots/", slots, name="slots"),
    path("appointments/<id:pk>/", appointment_detail, name="appointment"),
    path("appointments/<id:pk>/move/", move, name="move"),
    path("appointments/<id:pk>/status/", appointment_status, name="status"),
    path("appointments/<id:pk>/cancel/", cancel, name="cancel"),
    path("appointments/<id:pk>/menu/", appointment_menu, name="menu"),
]
