"""The diary pages: day and week calendars, the day sheet, the slot finder, the detail page, and
who may open each of the scheduling views."""

import re
from datetime import timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from accounts.models import Role
from scheduling.models import Appointment, AppointmentStatus
from scheduling.views.grid import STATUS_ACTIONS
from tests.factories import PatientFactory, UserFactory
from tests.scheduling.factories import AppointmentFactory, TimeOffFactory, appointment_type, at, every_day, tomorrow


@pytest.fixture
def working(clinician):
    """The clinician persona, working 08:00-18:00 every day of the week."""
    every_day(clinician)
    return clinician


@pytest.fixture
def colleague(db):
    other = UserFactory(username="zoe", first_name="Zoe", last_name="Young", role=Role.CLINICIAN)
    every_day(other)
    return other


def _day(client, day, **params):
    return client.get(reverse("scheduling:day"), {"date": day.isoformat(), **params})


def _cell_href(clinician, day, clock: str, patient=None) -> str:
    # How a free cell's booking link appears in the HTML (":" encoded, "&" escaped).
    query = f"clinician={clinician.pk}&amp;starts_at={day.isoformat()}T{clock.replace(':', '%3A')}"
    if patient is not None:
        query = f"patient={patient.pk}&amp;{query}"
    return f'href="{reverse("scheduling:book")}?{query}"'


def test_day_view_shows_appointments_as_coloured_blocks_with_name_type_and_status(front_desk_client, working, patient):
    day = tomorrow()
    booked = AppointmentFactory(clinician=working, patient=patient, starts_at=at(day, 10, 30))
    body = _day(front_desk_client, day).content.decode()
    assert f'id="appointment-{booked.pk}"' in body
    assert "Charlie Day" in body and "Review" in body and "Booked" in body
    assert "--colour: #198754" in body  # the Review type's colour
    assert f"--m: {10 * 60 + 30}; --len: 15" in body  # placed by start time and duration


def test_empty_working_slots_link_to_the_booking_form_and_taken_ones_do_not(front_desk_client, working):
    day = tomorrow()
    AppointmentFactory(clinician=working, starts_at=at(day, 10, 30))
    body = _day(front_desk_client, day).content.decode()
    assert reverse("scheduling:book") in body
    assert _cell_href(working, day, "10:15") in body
    assert _cell_href(working, day, "10:45") in body
    assert _cell_href(working, day, "10:30") not in body  # taken
    assert _cell_href(working, day, "07:45") not in body  # before working hours
    assert _cell_href(working, day, "18:00") not in body


def test_no_booking_links_in_the_past(front_desk_client, working):
    yesterday = timezone.localdate() - timedelta(days=1)
    body = _day(front_desk_client, yesterday).content.decode()
    assert "starts_at=" not in body


def _columns(response) -> list[tuple[int, str]]:
    """The time grid's columns, as the clinician and day each is for."""
    found = re.findall(r'data-clinician="(\d+)" data-day="([\d-]+)"', response.content.decode())
    return [(int(clinician), day) for clinician, day in found]


def test_day_view_shows_every_clinician_side_by_side_or_one_when_filtered(front_desk_client, working, colleague):
    day = tomorrow()
    both = _day(front_desk_client, day)
    assert _columns(both) == [(working.pk, day.isoformat()), (colleague.pk, day.isoformat())]
    one = _day(front_desk_client, day, clinician=colleague.pk)
    assert _columns(one) == [(colleague.pk, day.isoformat())]
    assert "Alice Carter</a>" not in one.content.decode()


def test_time_off_is_shown_and_offers_no_slots(front_desk_client, working, colleague):
    day = tomorrow()
    TimeOffFactory(clinician=working, starts_on=day, ends_on=day, reason="Conference")
    body = _day(front_desk_client, day).content.decode()
    assert "Time off: Conference" in body
    assert f"?clinician={working.pk}&amp;starts_at" not in body
    assert f"?clinician={colleague.pk}&amp;starts_at" in body


def test_working_hours_are_shaded_on_the_clinic_clock(front_desk_client, working):
    body = _day(front_desk_client, tomorrow()).content.decode()
    assert body.count('<div class="cal-work" ') == 1
    assert '<div class="cal-work" style="--m: 480; --len: 600">' in body
    assert f'data-axis="{8 * 60}" data-span="{10 * 60}"' in body


def test_week_view_for_one_clinician_has_seven_day_columns(front_desk_client, working):
    day = tomorrow()
    booked = AppointmentFactory(clinician=working, starts_at=at(day, 9))
    response = front_desk_client.get(reverse("scheduling:week"), {"date": day.isoformat(), "clinician": working.pk})
    monday = day - timedelta(days=day.weekday())
    assert _columns(response) == [(working.pk, (monday + timedelta(days=n)).isoformat()) for n in range(7)]
    assert f'id="appointment-{booked.pk}"' in response.content.decode()


def test_week_view_for_all_clinicians_has_a_row_each(front_desk_client, working, colleague):
    day = tomorrow()
    booked = AppointmentFactory(clinician=colleague, starts_at=at(day, 9))
    response = front_desk_client.get(reverse("scheduling:week"), {"date": day.isoformat()})
    rows = re.findall(r'<th scope="row"><a href="[^"]*clinician=(\d+)', response.content.decode())
    assert rows == [str(working.pk), str(colleague.pk)]
    assert reverse("scheduling:appointment", args=[booked.pk]) in response.content.decode()


def test_cancelled_appointments_leave_the_grid_but_are_listed(front_desk_client, working):
    day = tomorrow()
    gone = AppointmentFactory(clinician=working, starts_at=at(day, 9), status=AppointmentStatus.CANCELLED)
    body = _day(front_desk_client, day).content.decode()
    assert f'id="appointment-{gone.pk}"' not in body
    assert reverse("scheduling:appointment", args=[gone.pk]) in body
    assert _cell_href(working, day, "09:00") in body  # the time is free again


@pytest.mark.parametrize("route", ["scheduling:day", "scheduling:week", "scheduling:day_sheet"])
@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"date": "2026-13-45"}, "is not a date"),
        ({"date": "tomorrow"}, "is not a date"),
        ({"date": "0001-01-01"}, "between 2000 and 2099"),
        ({"clinician": "abc"}, "There is no clinician"),
        ({"clinician": "999999"}, "There is no clinician"),
    ],
)
def test_bad_query_parameters_answer_400_with_the_reason(front_desk_client, working, route, params, message):
    response = front_desk_client.get(reverse(route), params)
    assert response.status_code == 400
    assert message in response.content.decode()


def test_a_user_who_is_not_a_clinician_is_not_a_calendar_column(front_desk_client, front_desk, working):
    response = _day(front_desk_client, tomorrow(), clinician=front_desk.pk)
    assert response.status_code == 400


def test_an_unknown_patient_to_book_for_answers_400(front_desk_client, working):
    assert _day(front_desk_client, tomorrow(), patient="999999").status_code == 400


def test_booking_for_a_patient_carries_them_into_every_slot_link(front_desk_client, working, patient):
    day = tomorrow()
    body = _day(front_desk_client, day, patient=patient.pk).content.decode()
    assert "Booking for <strong>Charlie Day</strong>" in body
    assert _cell_href(working, day, "11:00", patient) in body


# --- Fixed number of queries ------------------------------------------------------------------

QUERY_BUDGET = 12


def _fill_day(day, staff, indexes) -> None:
    """Appointments 15 minutes apart from 08:00, alternating between the clinicians."""
    for index in indexes:
        clinician = staff[index % len(staff)]
        AppointmentFactory(clinician=clinician, starts_at=at(day, 8) + timedelta(minutes=15 * (index // len(staff))))


def _fill_week(monday, staff, indexes) -> None:
    """Appointments spread over the seven days of the week, never two in one place."""
    for index in indexes:
        day, slot = monday + timedelta(days=index % 7), index // 7
        AppointmentFactory(clinician=staff[slot % len(staff)], starts_at=at(day, 8) + timedelta(minutes=15 * slot))


def _queries(client, url, params, capture) -> int:
    with capture(QUERY_BUDGET) as queries:
        response = client.get(url, params)
    assert response.status_code == 200
    return len(queries.captured_queries)


@pytest.mark.parametrize("filtered", [False, True], ids=["all clinicians", "one clinician"])
@pytest.mark.parametrize("view", ["day", "week"])
@pytest.mark.usefixtures("warm_worker")
def test_calendar_runs_a_fixed_number_of_queries(
    front_desk_client, working, colleague, django_assert_max_num_queries, view, filtered
):
    day = tomorrow()
    monday = day - timedelta(days=day.weekday())
    staff = [working] if filtered else [working, colleague]
    params = {"date": day.isoformat(), **({"clinician": working.pk} if filtered else {})}
    url = reverse(f"scheduling:{view}")
    fill = (
        (lambda indexes: _fill_day(day, staff, indexes))
        if view == "day"
        else (lambda indexes: _fill_week(monday, staff, indexes))
    )
    fill(range(3))
    with_three = _queries(front_desk_client, url, params, django_assert_max_num_queries)
    fill(range(3, 40))
    with_forty = _queries(front_desk_client, url, params, django_assert_max_num_queries)
    assert Appointment.objects.count() == 40
    assert with_three == with_forty


# --- Day sheet --------------------------------------------------------------------------------


def test_day_sheet_lists_the_days_appointments_in_time_order(front_desk_client, working, colleague):
    day = tomorrow()
    names = {}
    for hour, name in [(14, "Late"), (9, "Early"), (11, "Middle")]:
        patient = PatientFactory(given_name=name, family_name="Sheet")
        names[name] = AppointmentFactory(
            clinician=working, patient=patient, starts_at=at(day, hour), notes=f"{name} note"
        )
    other_day = at(day, 9) + timedelta(days=1)
    AppointmentFactory(clinician=working, patient=PatientFactory(family_name="Nextday"), starts_at=other_day)
    AppointmentFactory(clinician=colleague, patient=PatientFactory(family_name="Colleague"), starts_at=at(day, 10))
    cancelled = PatientFactory(family_name="Cancelled")
    AppointmentFactory(clinician=working, patient=cancelled, starts_at=at(day, 12), status=AppointmentStatus.CANCELLED)
    url = reverse("scheduling:day_sheet")
    response = front_desk_client.get(url, {"date": day.isoformat(), "clinician": working.pk})
    body = response.content.decode()
    positions = [body.index(f"Sheet, {name}") for name in ("Early", "Middle", "Late")]
    assert positions == sorted(positions)
    early = names["Early"].patient
    assert early.clinic_number in body and early.date_of_birth.strftime("%d/%m/%Y") in body and "Early note" in body
    assert "Nextday" not in body and "Colleague" not in body and "Cancelled" not in body
    assert 'class="d-flex flex-wrap align-items-center gap-2 mb-3 d-print-none"' in body  # no controls on paper


def test_day_sheet_for_all_clinicians_has_a_sheet_for_each_with_patients(front_desk_client, working, colleague):
    day = tomorrow()
    AppointmentFactory(clinician=colleague, starts_at=at(day, 10))
    response = front_desk_client.get(reverse("scheduling:day_sheet"), {"date": day.isoformat()})
    assert [clinician for clinician, _ in response.context["sheets"]] == [colleague]


# --- Free slots -------------------------------------------------------------------------------


def _slot_search(client, **params):
    return client.get(reverse("scheduling:slots"), {"appointment_type": appointment_type("review").pk, **params})


def test_slots_are_inside_working_hours_and_skip_booked_times(front_desk_client, working):
    day = tomorrow()
    working.working_hours.all().delete()
    every_day(working, starts=at(day, 9).time(), ends=at(day, 12).time())
    AppointmentFactory(clinician=working, starts_at=at(day, 10))
    response = _slot_search(front_desk_client, clinician=working.pk, date_from=day.isoformat(), date_to=day.isoformat())
    slots = [slot for _, by_clinician in response.context["groups"] for _, pairs in by_clinician for slot, _ in pairs]
    assert slots
    for slot in slots:
        assert at(day, 9) <= slot.starts_at and slot.ends_at <= at(day, 12)
        assert not (slot.starts_at < at(day, 10, 15) and at(day, 10) < slot.ends_at)
    assert at(day, 10, 15) in [slot.starts_at for slot in slots]  # right after the booked review


def test_each_slot_links_to_the_booking_form_prefilled(front_desk_client, working, patient):
    day = tomorrow()
    response = _slot_search(front_desk_client, date_from=day.isoformat(), date_to=day.isoformat(), patient=patient.pk)
    _, pairs = response.context["groups"][0][1][0]
    _, link = pairs[0]
    query = parse_qs(urlsplit(link).query)
    assert urlsplit(link).path == reverse("scheduling:book")
    assert query["clinician"] == [str(working.pk)]
    assert query["starts_at"] == [f"{day.isoformat()}T08:00"]
    assert query["patient"] == [str(patient.pk)]
    assert query["appointment_type"] == [str(appointment_type("review").pk)]


@pytest.mark.parametrize(
    ("offsets", "message"),
    [((5, 1), "end date is before the start date"), ((1, 61), "at most 60 days"), ((-10, -5), "have passed")],
)
def test_a_bad_date_range_is_refused_with_a_message(front_desk_client, working, offsets, message):
    today = timezone.localdate()
    first, last = (today + timedelta(days=offset) for offset in offsets)
    response = _slot_search(front_desk_client, date_from=first.isoformat(), date_to=last.isoformat())
    assert response.status_code == 200
    assert message in response.content.decode()
    assert response.context["groups"] == []


# --- Appointment page -------------------------------------------------------------------------


def test_appointment_page_shows_its_details_and_the_actions_its_status_allows(front_desk_client, working, patient):
    booked = AppointmentFactory(clinician=working, patient=patient, starts_at=at(tomorrow(), 10), notes="Wheelchair")
    body = front_desk_client.get(reverse("scheduling:appointment", args=[booked.pk])).content.decode()
    assert "Charlie Day" in body and "Wheelchair" in body and "Alice Carter" in body
    assert 'value="arrived"' in body and 'value="no_show"' in body and 'value="completed"' not in body
    assert reverse("scheduling:move", args=[booked.pk]) in body
    assert reverse("scheduling:cancel", args=[booked.pk]) in body


def test_a_completed_appointment_offers_no_actions(front_desk_client, working):
    done = AppointmentFactory(clinician=working, status=AppointmentStatus.COMPLETED)
    body = front_desk_client.get(reverse("scheduling:appointment", args=[done.pk])).content.decode()
    assert 'name="status"' not in body
    assert reverse("scheduling:move", args=[done.pk]) not in body


# --- Who may open what ------------------------------------------------------------------------

PAGES = ["scheduling:day", "scheduling:week", "scheduling:day_sheet", "scheduling:book", "scheduling:slots"]
APPOINTMENT_PAGES = [
    ("scheduling:appointment", "get"),
    ("scheduling:move", "get"),
    ("scheduling:cancel", "get"),
    ("scheduling:status", "post"),
]


@pytest.fixture
def any_appointment(db, working):
    return AppointmentFactory(clinician=working)


def _every_view(appointment):
    yield from ((reverse(name), "get") for name in PAGES)
    yield from ((reverse(name, args=[appointment.pk]), method) for name, method in APPOINTMENT_PAGES)


def test_anonymous_users_are_sent_to_sign_in_from_every_view(client, any_appointment):
    for url, method in _every_view(any_appointment):
        response = getattr(client, method)(url)
        assert response.status_code == 302, url
        assert urlsplit(response["Location"]).path == reverse("login")


@pytest.mark.parametrize("persona", ["patient_client", "outsider_client"])
def test_patients_and_users_without_a_role_are_refused_every_view(request, persona, any_appointment):
    client = request.getfixturevalue(persona)
    for url, method in _every_view(any_appointment):
        assert getattr(client, method)(url).status_code == 403, url


@pytest.mark.parametrize(("name", "method"), APPOINTMENT_PAGES)
def test_a_missing_appointment_is_404(front_desk_client, name, method):
    assert getattr(front_desk_client, method)(reverse(name, args=[999999])).status_code == 404


@pytest.mark.parametrize("persona", ["clinician_client", "front_desk_client", "manager_client"])
def test_staff_open_every_page(request, persona, any_appointment):
    client = request.getfixturevalue(persona)
    for name in PAGES:
        assert client.get(reverse(name)).status_code == 200, name
    for name, method in APPOINTMENT_PAGES:
        if method == "get":
            assert client.get(reverse(name, args=[any_appointment.pk])).status_code == 200, name


# --- The calendars escape what they show ---------------------------------------------------------------------------

HOSTILE = '<img src=x onerror="alert(1)">'


@pytest.fixture
def hostile_booking(working):
    patient = PatientFactory(given_name=HOSTILE, family_name="O'Hara & Sons")
    return AppointmentFactory(clinician=working, patient=patient, starts_at=at(tomorrow(), 11), notes=HOSTILE)


@pytest.mark.parametrize("view", ["scheduling:day", "scheduling:week"])
@pytest.mark.parametrize("one_clinician", [False, True])
def test_calendars_escape_names_and_notes(front_desk_client, hostile_booking, view, one_clinician):
    params = {"date": tomorrow().isoformat()}
    if one_clinician:
        params["clinician"] = hostile_booking.clinician_id
    body = front_desk_client.get(reverse(view), params).content.decode()
    assert f'id="appointment-{hostile_booking.pk}"' in body or f"/appointments/{hostile_booking.pk}/" in body
    assert HOSTILE not in body
    assert escape(HOSTILE) in body
    assert escape("O'Hara & Sons") in body


def test_status_change_answers_htmx_with_the_escaped_block(front_desk_client, hostile_booking):
    url = reverse("scheduling:status", args=[hostile_booking.pk])
    response = front_desk_client.post(url, {"status": "arrived"}, headers={"HX-Request": "true"})
    body = response.content.decode()
    assert response.status_code == 200
    assert body.startswith(f'<div class="appt status-arrived" id="appointment-{hostile_booking.pk}"')
    assert HOSTILE not in body and "&lt;img" in body
    # Like the cached grid's blocks, it holds no token: its button submits the page's own form without htmx.
    assert 'name="csrfmiddlewaretoken"' not in body and 'form="calendar-status"' in body


# --- A block's menu, loaded when it is first opened ---------------------------------------------------------------


def test_the_day_draws_each_menu_as_a_link_to_its_items(front_desk_client, hostile_booking):
    body = front_desk_client.get(reverse("scheduling:day"), {"date": tomorrow().isoformat()}).content.decode()
    menu_url = reverse("scheduling:menu", args=[hostile_booking.pk])
    assert f'hx-get="{menu_url}?next=' in body
    assert reverse("scheduling:cancel", args=[hostile_booking.pk]) not in body  # the items come with the menu


def test_the_menu_offers_the_next_statuses_with_the_way_back(front_desk_client, hostile_booking):
    back = f"{reverse('scheduling:day')}?date={tomorrow().isoformat()}"
    url = reverse("scheduling:menu", args=[hostile_booking.pk])
    response = front_desk_client.get(url, {"next": back}, headers={"HX-Request": "true"})
    body = response.content.decode()
    assert response.status_code == 200
    # Only htmx loads and posts the menu, with the token from <body hx-headers>.
    assert 'name="csrfmiddlewaretoken"' not in body and f'name="next" value="{escape(back)}"' in body
    offered = re.findall(r'name="status" value="(\w+)"', body)
    assert offered == [value for value, _ in STATUS_ACTIONS[AppointmentStatus.BOOKED].actions]
    assert f"{reverse('scheduling:cancel', args=[hostile_booking.pk])}?{urlencode({'next': back})}" in body
    assert reverse("scheduling:move", args=[hostile_booking.pk]) in body
    assert HOSTILE not in body and "&lt;img" in body


def test_the_menu_sends_nobody_elsewhere(front_desk_client, hostile_booking):
    url = reverse("scheduling:menu", args=[hostile_booking.pk])
    body = front_desk_client.get(url, {"next": "https://elsewhere.example/"}).content.decode()
    assert "elsewhere.example" not in body
    assert f'name="next" value="{reverse("scheduling:day")}"' in body


def test_a_completed_appointment_has_no_menu(front_desk_client, hostile_booking):
    hostile_booking.status = AppointmentStatus.COMPLETED
    hostile_booking.save()
    body = front_desk_client.get(reverse("scheduling:day"), {"date": tomorrow().isoformat()}).content.decode()
    assert reverse("scheduling:menu", args=[hostile_booking.pk]) not in body


# --- A calendar shows the diary as it is now ----------------------------------------------------------------------


@pytest.mark.parametrize("view", ["scheduling:day", "scheduling:week"])
def test_the_calendars_show_an_appointment_as_it_is_not_as_first_drawn(front_desk_client, hostile_booking, view):
    params = {"date": tomorrow().isoformat()}
    before = front_desk_client.get(reverse(view), params).content.decode()
    Appointment.objects.filter(pk=hostile_booking.pk).update(status=AppointmentStatus.ARRIVED, notes="Running late")
    hostile_booking.patient.given_name = "Renamed"
    hostile_booking.patient.save()
    after = front_desk_client.get(reverse(view), params).content.decode()
    assert "status-booked" in before and "status-booked" not in after and "status-arrived" in after
    assert escape("Renamed O'Hara") in after and "&lt;img" not in after
    if view == "scheduling:day":
        assert "Running late" in after


def test_free_cells_are_drawn_as_the_diary_is_now(front_desk_client, working):
    working.first_name, working.last_name = "Ann", "Lee & Co"
    working.save()
    day = tomorrow()
    before = _day(front_desk_client, day).content.decode()
    AppointmentFactory(clinician=working, starts_at=at(day, 9))
    after = _day(front_desk_client, day).content.decode()
    assert _cell_href(working, day, "09:00") in before and _cell_href(working, day, "09:00") not in after
    assert _cell_href(working, day, "09:30") in after
    assert 'aria-label="Book Ann Lee &amp; Co, ' in after


def test_a_day_with_no_clinicians_set_up_says_how_to_add_them(front_desk_client):
    body = _day(front_desk_client, tomorrow()).content.decode()
    assert "No clinicians are set up yet." in body
    assert 'id="calendar-grid"' not in body
