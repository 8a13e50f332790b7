"""Calendars drawn once and kept until the diary changes (scheduling.views.drawn).

Kept only outside a transaction, so these tests commit: each runs on a database flushed afterwards."""

import re
from datetime import UTC, time, timedelta
from typing import NamedTuple

import pytest
from django.core.management.sql import emit_post_migrate_signal
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import Role, User
from scheduling.models import Appointment, AppointmentStatus, AppointmentType, DiaryChange, TimeOff, WorkingHours
from scheduling.views import drawn, grid
from tests.conftest import _client_for
from tests.factories import PatientFactory, UserFactory
from tests.scheduling.factories import (
    AppointmentFactory,
    AppointmentTypeFactory,
    TimeOffFactory,
    at,
    every_day,
    tomorrow,
)

pytestmark = pytest.mark.django_db(transaction=True)

DAY = "scheduling:day"
WEEK = "scheduling:week"


@pytest.fixture(autouse=True)
def nothing_kept():
    drawn.forget_drawn()
    yield
    drawn.forget_drawn()


class Setting(NamedTuple):
    clinician: User
    booked: Appointment
    desk: Client


@pytest.fixture
def diary() -> Setting:
    """A clinician working every day, with one booked appointment tomorrow at 10:00, and the desk's browser."""
    clinician = UserFactory(username="drawn-clinician", first_name="Dana", last_name="Kerr", role=Role.CLINICIAN)
    every_day(clinician)
    kind = AppointmentTypeFactory(name="Injection visit", colour="#198754")
    booked = AppointmentFactory(clinician=clinician, appointment_type=kind, starts_at=at(tomorrow(), 10),
                                patient=PatientFactory(given_name="Iris", family_name="Okafor"))  # fmt: skip
    desk = _client_for(UserFactory(username="drawn-desk", role=Role.FRONT_DESK))
    return Setting(clinician, booked, desk)


def _page(desk: Client, view: str = DAY, **params) -> tuple[str, int]:
    """The page's markup, its CSRF tokens (masked afresh for each response) blanked, and how many queries it ran."""
    with CaptureQueriesContext(connection) as queries:
        response = desk.get(reverse(view), {"date": tomorrow().isoformat(), **params})
    assert response.status_code == 200
    body = re.sub(r"\b[A-Za-z0-9]{64}\b", "(a CSRF token)", response.content.decode())
    return body, len(queries)


@pytest.mark.parametrize("view", [DAY, WEEK])
@pytest.mark.parametrize("one_clinician", [False, True])
def test_a_calendar_seen_again_is_not_drawn_again(diary, view, one_clinician, monkeypatch):
    loads, load = [], grid.Diary.load
    monkeypatch.setattr(grid.Diary, "load", lambda *args: loads.append(args) or load(*args))
    params = {"clinician": diary.clinician.pk} if one_clinician else {}
    first, first_queries = _page(diary.desk, view, **params)
    again, again_queries = _page(diary.desk, view, **params)
    assert again == first
    assert "Iris Okafor" in again
    assert len(loads) == 1
    assert again_queries < first_queries


def test_the_kept_calendar_has_this_responses_csrf_input_and_way_back(diary):
    _page(diary.desk, clinician=diary.clinician.pk)
    response = diary.desk.get(reverse(DAY), {"date": tomorrow().isoformat(), "clinician": diary.clinician.pk})
    body = response.content.decode()
    assert body.count('name="csrfmiddlewaretoken"') >= 1
    back = f"{reverse(DAY)}?date={tomorrow().isoformat()}&amp;clinician={diary.clinician.pk}"
    assert f'name="next" value="{back}"' in body
    assert "<pit:" not in body


def _rename_patient(booked: Appointment) -> str:
    patient = booked.patient
    patient.family_name = "Okonkwo"
    patient.save()
    return "Iris Okonkwo"


def _mark_arrived(booked: Appointment) -> str:
    Appointment.objects.filter(pk=booked.pk).update(status=AppointmentStatus.ARRIVED)
    return "(Arrived)"


def _book_another(booked: Appointment) -> str:
    patient = PatientFactory(given_name="Tomas", family_name="Vidal")
    AppointmentFactory(clinician=booked.clinician, appointment_type=booked.appointment_type,
                       starts_at=at(tomorrow(), 14), patient=patient)  # fmt: skip
    return "Tomas Vidal"


def _rename_kind(booked: Appointment) -> str:
    AppointmentType.objects.filter(pk=booked.appointment_type_id).update(name="Dextrose injection")
    return "Dextrose injection"


def _take_time_off(booked: Appointment) -> str:
    TimeOffFactory(clinician=booked.clinician, starts_on=tomorrow(), ends_on=tomorrow(), reason="Conference")
    return "Time off: Conference"


def _shorten_hours(booked: Appointment) -> str:
    WorkingHours.objects.filter(clinician=booked.clinician).update(starts=time(9), ends=time(17))
    return "09:00\N{EN DASH}17:00"


def _rename_clinician(booked: Appointment) -> str:
    clinician = booked.clinician
    clinician.first_name = "Danielle"
    clinician.save()
    return "Danielle Kerr"


def _cancel(booked: Appointment) -> str:
    Appointment.objects.filter(pk=booked.pk).update(status=AppointmentStatus.CANCELLED, cancel_reason="Snowed in")
    return "Snowed in"


CHANGES = [_rename_patient, _mark_arrived, _book_another, _rename_kind, _take_time_off, _shorten_hours,
           _rename_clinician, _cancel]  # fmt: skip
# The day, the week of all clinicians (which lists no cancelled appointments) and one clinician's week.
PAGES = {"day": (DAY, False), "week": (WEEK, False), "own week": (WEEK, True)}


@pytest.mark.parametrize(
    ("change", "page"),
    [(change, page) for change in CHANGES for page in PAGES if (change, page) != (_cancel, "week")],
    ids=lambda value: getattr(value, "__name__", value),
)
def test_any_change_to_what_a_calendar_shows_draws_it_again(diary, change, page):
    view, one_clinician = PAGES[page]
    params = {"clinician": diary.clinician.pk} if one_clinician else {}
    before, _ = _page(diary.desk, view, **params)
    shown = change(diary.booked)
    after, _ = _page(diary.desk, view, **params)
    assert shown not in before
    assert shown in after


def test_an_appointment_moved_onto_the_day_is_drawn_there(diary):
    before, _ = _page(diary.desk)
    later = AppointmentFactory(clinician=diary.clinician, appointment_type=diary.booked.appointment_type,
                               starts_at=at(tomorrow() + timedelta(days=30), 9),
                               patient=PatientFactory(given_name="Lena", family_name="Moreau"))  # fmt: skip
    assert _page(diary.desk)[0] == before  # a change on another day leaves this one as drawn
    Appointment.objects.filter(pk=later.pk).update(starts_at=at(tomorrow(), 15), ends_at=at(tomorrow(), 15, 30))
    after, _ = _page(diary.desk)
    assert "Lena Moreau" not in before
    assert "Lena Moreau" in after


def test_nothing_is_kept_inside_a_transaction(diary):
    day = tomorrow()
    with transaction.atomic():
        _book_another(diary.booked)
        assert drawn.drawn(("test",), day, day, lambda: "drawn with the booking") == "drawn with the booking"
        transaction.set_rollback(True)
    assert drawn.drawn(("test",), day, day, lambda: "drawn afresh") == "drawn afresh"
    assert "Tomas Vidal" not in _page(diary.desk)[0]


def test_a_calendar_for_today_is_drawn_again_when_the_minute_moves_on(diary, monkeypatch):
    today, localtime = timezone.localdate(), timezone.localtime
    clock = [localtime().replace(hour=9, minute=0)]

    def stopped(value=None, zone=None):
        return clock[0] if value is None else localtime(value, zone)

    monkeypatch.setattr(timezone, "localtime", stopped)
    draws = []
    for minute in (0, 0, 1):
        clock[0] = clock[0].replace(minute=minute)
        drawn.drawn(("today",), today, today, lambda: draws.append(clock[0].minute))
    assert draws == [0, 1]
    later = today + timedelta(days=3)
    assert drawn.clock_key(later, later)[2] is None  # a day ahead shows no clock


# --- The change log itself ---------------------------------------------------------------------------------------


def _logged(action) -> list:
    newest = DiaryChange.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    action()
    return list(DiaryChange.objects.filter(pk__gt=newest).order_by("day").values_list("day", flat=True))


def test_an_appointment_is_logged_under_the_utc_days_it_starts_and_ends_on_before_and_after(diary):
    booked = Appointment.objects.filter(pk=diary.booked.pk)
    starts, ends = at(tomorrow() + timedelta(days=5), 23, 50), at(tomorrow() + timedelta(days=6), 0, 20)
    before = diary.booked.starts_at.astimezone(UTC).date()
    after = {starts.astimezone(UTC).date(), ends.astimezone(UTC).date()}
    assert _logged(lambda: booked.update(starts_at=starts, ends_at=ends)) == sorted({before} | after)
    assert _logged(booked.delete) == sorted(after)


def test_a_patient_change_the_calendars_do_not_show_is_not_logged(diary):
    patient = diary.booked.patient
    patient.preferred_name = "Izzy"
    assert _logged(patient.save) == []
    patient.given_name = "Isobel"
    assert _logged(patient.save) == [None]


def test_setup_changes_are_logged_under_no_day(diary):
    day = tomorrow()
    assert _logged(lambda: TimeOff.objects.create(starts_on=day, ends_on=day, reason="Holiday")) == [None]
    assert _logged(lambda: WorkingHours.objects.filter(clinician=diary.clinician).delete()) == [None]
    assert _logged(lambda: AppointmentTypeFactory(name="Review call")) == [None]


@pytest.mark.parametrize("view", [DAY, WEEK])
def test_a_kept_calendar_is_served_in_the_same_queries_whatever_the_diary_holds(diary, view):
    def kept_page_queries() -> int:
        _page(diary.desk, view)
        return _page(diary.desk, view)[1]

    quiet = kept_page_queries()
    for hour in range(11, 17):
        AppointmentFactory(clinician=diary.clinician, appointment_type=diary.booked.appointment_type,
                           starts_at=at(tomorrow(), hour), patient=PatientFactory())  # fmt: skip
    assert kept_page_queries() == quiet <= 6


def test_a_migrated_or_flushed_database_forgets_every_drawn_calendar(diary):
    """Its change log starts again from nothing, so its counts could meet a kept calendar's."""
    day = tomorrow()
    assert drawn.drawn(("test",), day, day, lambda: "drawn before") == "drawn before"
    emit_post_migrate_signal(verbosity=0, interactive=False, db="default")
    assert drawn.drawn(("test",), day, day, lambda: "drawn after") == "drawn after"
