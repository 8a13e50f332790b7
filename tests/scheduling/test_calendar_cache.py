"""Rendered calendars in Django's cache under keys that carry the diary's versions
(scheduling.views.calendar_cache, scheduling.models.DiaryVersion)."""

import re
import runpy
from datetime import UTC, time, timedelta
from pathlib import Path
from typing import NamedTuple

import pytest
from django.conf import settings
from django.core.cache import caches
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import Role, User
from scheduling.models import ALL_DAYS, Appointment, AppointmentStatus, AppointmentType, DiaryVersion, WorkingHours
from scheduling.views import calendar_cache, grid
from tests.conftest import _client_for
from tests.factories import PatientFactory, UserFactory
from tests.scheduling.factories import (
    AppointmentFactory,
    AppointmentTypeFactory,
    TimeOffFactory,
    appointment_type,
    at,
    every_day,
    local_input,
    tomorrow,
)

DAY = "scheduling:day"
WEEK = "scheduling:week"


class CountingCache:
    """One worker's connection to the shared cache (a connection of its own, as another process would have),
    counting what the calendars ask of it, as Zulip's tests count cache reads beside queries."""

    def __init__(self):
        self.cache = caches.create_connection("default")
        self.hits = self.misses = 0
        self.stored: list[object] = []  # calendars stored whole
        self.blocks_found = self.blocks_stored = 0  # appointments' blocks, read and stored many at a time

    def get(self, key, default=None):
        value = self.cache.get(key, default)
        if value is None:
            self.misses += 1
        else:
            self.hits += 1
        return value

    def set(self, key, value, timeout=None):
        self.stored.append(value)
        self.cache.set(key, value, timeout)

    def get_many(self, keys):
        found = self.cache.get_many(keys)
        self.blocks_found += len(found)
        return found

    def set_many(self, values, timeout=None):
        self.blocks_stored += len(values)
        self.stored.extend(values.values())
        return self.cache.set_many(values, timeout)


@pytest.fixture
def worker(monkeypatch):
    """Make a new worker, with its own connection to the cache, the one that serves the calendars."""

    def start() -> CountingCache:
        counting = CountingCache()
        monkeypatch.setattr(calendar_cache, "cache", counting)
        return counting

    return start


class Setting(NamedTuple):
    clinician: User
    booked: Appointment
    desk: Client


@pytest.fixture
def diary(db) -> Setting:
    """A clinician working every day, with one booked appointment tomorrow at 10:00, and the desk's browser."""
    clinician = UserFactory(username="diary-clinician", first_name="Dana", last_name="Kerr", role=Role.CLINICIAN)
    every_day(clinician)
    kind = AppointmentTypeFactory(name="Injection visit", colour="#198754")
    booked = AppointmentFactory(clinician=clinician, appointment_type=kind, starts_at=at(tomorrow(), 10),
                                patient=PatientFactory(given_name="Iris", family_name="Okafor"))  # fmt: skip
    desk = _client_for(UserFactory(username="diary-desk", role=Role.FRONT_DESK))
    return Setting(clinician, booked, desk)


def _page(desk: Client, view: str = DAY, **params) -> tuple[str, int]:
    """The page's markup, its CSRF tokens (masked afresh for each response) blanked, and how many queries it ran."""
    with CaptureQueriesContext(connection) as queries:
        response = desk.get(reverse(view), {"date": tomorrow().isoformat(), **params})
    assert response.status_code == 200
    body = re.sub(r"\b[A-Za-z0-9]{64}\b", "(a CSRF token)", response.content.decode())
    return body, len(queries)


@pytest.fixture
def renders(monkeypatch) -> list:
    """Each time a calendar reads its diary to be rendered afresh."""
    loads, load = [], grid.Diary.load
    monkeypatch.setattr(grid.Diary, "load", lambda *args: loads.append(args) or load(*args))
    return loads


# --- One rendering serves every worker ---------------------------------------------------------------------------


@pytest.mark.parametrize("view", [DAY, WEEK])
@pytest.mark.parametrize("one_clinician", [False, True])
def test_a_calendar_rendered_by_one_worker_is_served_from_the_cache_by_another(diary, view, one_clinician, worker,
                                                                               renders):  # fmt: skip
    params = {"clinician": diary.clinician.pk} if one_clinician else {}
    first_worker = worker()
    first, first_queries = _page(diary.desk, view, **params)
    assert (first_worker.hits, first_worker.misses) == (0, 1)
    second_worker = worker()
    again, again_queries = _page(diary.desk, view, **params)
    assert (second_worker.hits, second_worker.misses, second_worker.stored) == (1, 0, [])
    assert second_worker.blocks_found == 0  # the whole calendar came from the cache
    assert again == first and "Iris Okafor" in again
    assert len(renders) == 1
    assert again_queries < first_queries


def test_a_booking_through_one_worker_is_shown_by_another_that_had_the_day_cached(diary, worker):
    worker()
    before, _ = _page(diary.desk)
    booking = {"patient": PatientFactory(given_name="Tomas", family_name="Vidal").pk, "clinician": diary.clinician.pk,
               "appointment_type": appointment_type("pit-session").pk, "starts_at": local_input(at(tomorrow(), 14)),
               "notes": ""}  # fmt: skip
    response = _client_for(diary.clinician).post(reverse("scheduling:book"), booking)
    assert response.status_code == 302
    second_worker = worker()  # the day as it was is still in the cache, under the version before the booking
    after, _ = _page(diary.desk)
    assert "Tomas Vidal" not in before and "Tomas Vidal" in after
    assert (second_worker.hits, second_worker.misses) == (0, 1)


def test_after_a_booking_only_the_new_appointments_block_is_rendered(diary, worker):
    for hour in (11, 12, 13, 15, 16, 17):  # _book_another books 14:00
        AppointmentFactory(clinician=diary.clinician, appointment_type=diary.booked.appointment_type,
                           starts_at=at(tomorrow(), hour), patient=PatientFactory())  # fmt: skip
    first_worker = worker()
    _page(diary.desk)
    assert (first_worker.blocks_found, first_worker.blocks_stored) == (0, 7)
    _book_another(diary.booked)
    second_worker = worker()
    after, _ = _page(diary.desk)
    assert "Tomas Vidal" in after
    assert (second_worker.misses, second_worker.blocks_found, second_worker.blocks_stored) == (1, 7, 1)


def test_a_changed_appointment_is_shown_with_its_block_rendered_again(diary, worker):
    _page(diary.desk)
    diary.booked.patient.given_name = "<b>Isobel</b>"
    diary.booked.patient.save()
    counting = worker()
    after, _ = _page(diary.desk)
    assert counting.blocks_stored == 1
    assert "&lt;b&gt;Isobel&lt;/b&gt; Okafor" in after and "Iris Okafor" not in after


def test_what_is_cached_holds_nothing_of_the_request(diary, worker):
    """No CSRF token and no way back but the calendar's own: the same markup is served to everyone."""
    for view, params in ((DAY, {}), (WEEK, {}), (WEEK, {"clinician": diary.clinician.pk})):
        counting = worker()
        response = diary.desk.get(reverse(view), {"date": tomorrow().isoformat(), "extra": "x", **params})
        token = response.context["csrf_token"]
        cached = "".join(
            str(part) for value in counting.stored for part in (value if isinstance(value, tuple) else [value])
        )
        assert "Iris Okafor" in cached
        assert "csrfmiddlewaretoken" not in cached and str(token) not in cached and "extra" not in cached


# --- Each kind of change moves the right version -----------------------------------------------------------------


def _versions() -> dict:
    return dict(DiaryVersion.objects.values_list("day", "version"))


def _moved(action) -> set:
    """The days whose versions the action moved (ALL_DAYS for a change that shows on every day)."""
    before = _versions()
    action()
    after = _versions()
    return {day for day, version in after.items() if before.get(day) != version}


def test_an_appointment_moves_the_utc_days_it_starts_and_ends_on_before_and_after(diary):
    booked = Appointment.objects.filter(pk=diary.booked.pk)
    starts, ends = at(tomorrow() + timedelta(days=5), 23, 50), at(tomorrow() + timedelta(days=6), 0, 20)
    before = diary.booked.starts_at.astimezone(UTC).date()
    after = {starts.astimezone(UTC).date(), ends.astimezone(UTC).date()}
    assert _moved(lambda: booked.update(starts_at=starts, ends_at=ends)) == {before} | after
    assert _moved(lambda: booked.update(status=AppointmentStatus.ARRIVED)) == after
    assert _moved(booked.delete) == after


def test_a_patient_or_clinician_change_the_calendars_do_not_show_moves_nothing(diary):
    patient, clinician = diary.booked.patient, diary.clinician
    patient.preferred_name = "Izzy"
    assert _moved(patient.save) == set()
    clinician.last_login = timezone.now()
    assert _moved(clinician.save) == set()


def test_names_and_setup_move_the_version_of_every_day(diary):
    patient, clinician, day = diary.booked.patient, diary.clinician, tomorrow()
    patient.given_name = "Isobel"
    assert _moved(patient.save) == {ALL_DAYS}
    clinician.first_name = "Danielle"
    assert _moved(clinician.save) == {ALL_DAYS}
    assert _moved(lambda: TimeOffFactory(starts_on=day, ends_on=day, reason="Holiday")) == {ALL_DAYS}
    assert _moved(lambda: WorkingHours.objects.filter(clinician=clinician).delete()) == {ALL_DAYS}
    assert _moved(lambda: AppointmentTypeFactory(name="Review call")) == {ALL_DAYS}


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
def test_any_change_to_what_a_calendar_shows_is_shown_at_once(diary, change, page, worker):
    view, one_clinician = PAGES[page]
    params = {"clinician": diary.clinician.pk} if one_clinician else {}
    before, _ = _page(diary.desk, view, **params)
    shown = change(diary.booked)
    counting = worker()
    after, _ = _page(diary.desk, view, **params)
    assert shown not in before
    assert shown in after
    assert counting.hits == 0


def test_a_change_on_another_day_leaves_the_day_cached_until_an_appointment_moves_onto_it(diary, worker, renders):
    before, _ = _page(diary.desk)
    later = AppointmentFactory(clinician=diary.clinician, appointment_type=diary.booked.appointment_type,
                               starts_at=at(tomorrow() + timedelta(days=30), 9),
                               patient=PatientFactory(given_name="Lena", family_name="Moreau"))  # fmt: skip
    counting = worker()
    assert _page(diary.desk)[0] == before
    assert counting.hits == 1 and len(renders) == 1
    Appointment.objects.filter(pk=later.pk).update(starts_at=at(tomorrow(), 15), ends_at=at(tomorrow(), 15, 30))
    after, _ = _page(diary.desk)
    assert "Lena Moreau" not in before and "Lena Moreau" in after


def test_a_calendar_cached_inside_a_rolled_back_change_is_never_served(diary):
    """The page seen inside the transaction is cached under the version it moved to; that version is never handed
    out again, so a later change to the same day is not answered with the rolled-back page."""
    with transaction.atomic():
        _book_another(diary.booked)
        assert "Tomas Vidal" in _page(diary.desk)[0]
        transaction.set_rollback(True)
    assert "Tomas Vidal" not in _page(diary.desk)[0]
    lena = PatientFactory(given_name="Lena", family_name="Moreau")
    AppointmentFactory(clinician=diary.clinician, appointment_type=diary.booked.appointment_type,
                       starts_at=at(tomorrow(), 15), patient=lena)  # fmt: skip
    after, _ = _page(diary.desk)
    assert "Lena Moreau" in after and "Tomas Vidal" not in after


def test_a_calendar_showing_today_is_rendered_again_when_the_minute_moves_on(diary, monkeypatch):
    today, localtime = timezone.localdate(), timezone.localtime
    clock = [localtime().replace(hour=9, minute=0)]

    def stopped(value=None, zone=None):
        return clock[0] if value is None else localtime(value, zone)

    monkeypatch.setattr(timezone, "localtime", stopped)
    keys = []
    for minute in (0, 0, 1):
        clock[0] = clock[0].replace(minute=minute)
        keys.append(calendar_cache.calendar_key("day", today, today))
    assert keys[0] == keys[1] != keys[2]
    later = today + timedelta(days=3)
    assert calendar_cache.clock_key(later, later)[2] is None  # a day ahead shows no clock


@pytest.mark.parametrize("view", [DAY, WEEK])
def test_a_calendar_costs_the_same_queries_whatever_the_diary_holds(diary, view):
    def queries() -> tuple[int, int]:
        rendered = _page(diary.desk, view)[1]
        return rendered, _page(diary.desk, view)[1]

    quiet_rendered, quiet_cached = queries()
    for hour in range(11, 17):
        AppointmentFactory(clinician=diary.clinician, appointment_type=diary.booked.appointment_type,
                           starts_at=at(tomorrow(), hour), patient=PatientFactory())  # fmt: skip
    assert queries() == (quiet_rendered, quiet_cached)
    assert quiet_cached <= 6


@pytest.mark.parametrize("view", [DAY, WEEK])
@pytest.mark.parametrize("one_clinician", [False, True])
def test_a_calendar_reads_the_diarys_versions_in_one_query(diary, view, one_clinician):
    params = {"date": tomorrow().isoformat(), **({"clinician": diary.clinician.pk} if one_clinician else {})}
    for _ in ("rendered", "from the cache"):
        with CaptureQueriesContext(connection) as queries:
            assert diary.desk.get(reverse(view), params).status_code == 200
        assert sum(DiaryVersion._meta.db_table in query["sql"] for query in queries) == 1


# --- Forms without JavaScript keep their own token ---------------------------------------------------------------


def test_a_blocks_one_click_step_works_without_javascript_through_the_pages_form(diary):
    desk = Client(enforce_csrf_checks=True)
    desk.force_login(User.objects.get(username="diary-desk"))
    body = desk.get(reverse(DAY), {"date": tomorrow().isoformat()}).content.decode()
    page_form = re.search(r'<form id="calendar-status" method="post" hidden>(.*?)</form>', body).group(1)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page_form).group(1)
    back = re.search(r'name="next" value="([^"]+)"', page_form).group(1).replace("&amp;", "&")
    button = re.search(r'form="calendar-status" formaction="([^"]+)"\s+name="status" value="(\w+)"', body)
    assert button.group(1) == reverse("scheduling:status", args=[diary.booked.pk])
    response = desk.post(button.group(1), {"csrfmiddlewaretoken": token, "next": back, "status": button.group(2)})
    assert response.status_code == 302 and response.url == back
    diary.booked.refresh_from_db()
    assert diary.booked.status == AppointmentStatus.ARRIVED


def test_htmx_posts_with_the_token_from_the_pages_body(diary):
    desk = Client(enforce_csrf_checks=True)
    desk.force_login(User.objects.get(username="diary-desk"))
    body = desk.get(reverse(DAY), {"date": tomorrow().isoformat()}).content.decode()
    token = re.search(r"""hx-headers='\{"X-CSRFToken": "([^"]+)"\}'""", body).group(1)
    url = reverse("scheduling:status", args=[diary.booked.pk])
    refused = desk.post(url, {"status": "arrived"}, headers={"HX-Request": "true"})
    assert refused.status_code == 403
    answered = desk.post(url, {"status": "arrived"}, headers={"HX-Request": "true", "X-CSRFToken": token})
    assert answered.status_code == 200 and "status-arrived" in answered.content.decode()


# --- Which cache the settings choose -----------------------------------------------------------------------------


def _cache_settings(monkeypatch, tmp_path, **environment) -> dict:
    """CACHES as pit_portal/settings.py works it out from this environment."""
    monkeypatch.setenv("PIT_VAR_DIR", str(tmp_path))
    for name in ("CACHE_URL", "CELERY_BROKER_URL", "CACHE_KEY_PREFIX"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(Path(settings.BASE_DIR) / "pit_portal" / "settings.py"))["CACHES"]["default"]


def test_every_worker_shares_the_brokers_redis_unless_a_cache_url_is_given(monkeypatch, tmp_path):
    shared = _cache_settings(monkeypatch, tmp_path, CELERY_BROKER_URL="redis://queue.example:6379/2")
    assert shared["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
    # The same server, never the queues' own database: clearing the cache must not drop a task.
    assert shared["LOCATION"] == "redis://queue.example:6379/3"
    own = _cache_settings(monkeypatch, tmp_path, CELERY_BROKER_URL="redis://queue.example/2",
                          CACHE_URL="redis://cache.example/0")  # fmt: skip
    assert own["LOCATION"] == "redis://cache.example/0"


def test_without_redis_each_process_has_a_memory_cache(monkeypatch, tmp_path):
    embedded = _cache_settings(monkeypatch, tmp_path)
    assert embedded["BACKEND"] == "django.core.cache.backends.locmem.LocMemCache"


# --- The cache is an aid, never a dependency ---------------------------------------------------------------------


def test_with_the_cache_unreachable_the_calendar_is_rendered_all_the_same(diary, monkeypatch):
    from django.core.cache.backends.redis import RedisCache

    unreachable = RedisCache("redis://127.0.0.1:1/0", {})  # nothing listens on port 1: every call fails at once
    monkeypatch.setattr(calendar_cache, "cache", unreachable)
    body, _ = _page(diary.desk)
    assert "Okafor" in body


def test_a_release_that_changes_the_markup_looks_under_new_keys(diary, monkeypatch):
    first, last = tomorrow(), tomorrow()
    before = calendar_cache.calendar_key("day", first, last, ()).key
    monkeypatch.setattr(calendar_cache, "MARKUP_VERSION", "a-later-release")
    assert calendar_cache.calendar_key("day", first, last, ()).key != before
