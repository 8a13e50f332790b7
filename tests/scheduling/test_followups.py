"""Booking the next session of a course, and the rest of the series, from a signed session or the course page."""

from datetime import date, timedelta
from urllib.parse import urlsplit

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone

from accounts.models import Role
from scheduling import followups
from scheduling.models import Appointment, AppointmentStatus, AppointmentType, TimeOff
from tests.factories import PatientFactory, UserFactory, closed
from tests.scheduling.followup_helpers import (
    appointment,
    at,
    course_for,
    pit_type,
    signed_session,
    working_clinician,
    working_week,
)
from treatments.models import CourseStatus

NEXT = reverse("scheduling:book_next")
SERIES = reverse("scheduling:book_series")


def soon_weekday() -> date:
    """The first Monday-to-Friday date from tomorrow: a week after it is already in the past."""
    day = timezone.localdate() + timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def local_form_value(moment) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M")


@pytest.fixture
def clinician(clinician):
    working_week(clinician)
    return clinician


@pytest.fixture
def target() -> date:
    return soon_weekday()


@pytest.fixture
def course(clinician):
    return course_for(clinician, interval_days=7, planned_sessions=6)


@pytest.fixture
def session(course, target):
    """Session 1, signed a week before `target`, at 10:00 clinic time."""
    return signed_session(course, at(target - timedelta(days=7), 10), number=1)


# --- Book next ---------------------------------------------------------------------------------------------------


def test_book_next_from_a_signed_session_proposes_the_course_interval_at_the_same_time(
    clinician_client, clinician, course, session, target
):
    page = clinician_client.get(f"{NEXT}?session={session.pk}")
    assert page.status_code == 200
    proposal = page.context["proposal"]
    assert proposal.starts_at == proposal.wanted == at(target, 10)
    assert (proposal.clinician, proposal.appointment_type.code, proposal.note) == (clinician, "pit-session", "")
    assert f"{at(target, 10):%d/%m/%Y}" in page.content.decode()
    assert f'value="{local_form_value(at(target, 10))}"' in page.content.decode()


def test_one_click_on_the_proposal_books_it_for_the_course(clinician_client, clinician, course, session, target):
    form = clinician_client.get(f"{NEXT}?session={session.pk}").context["form"]
    data = {"clinician": form["clinician"].value(), "starts_at": form["starts_at"].value().strftime("%Y-%m-%dT%H:%M")}
    response = clinician_client.post(f"{NEXT}?session={session.pk}", data)
    assert response.status_code == 302
    assert response.url == reverse("treatments:course", args=[course.pk])
    booked = Appointment.objects.get()
    assert (booked.course, booked.patient, booked.clinician, booked.starts_at) == (
        course,
        course.patient,
        clinician,
        at(target, 10),
    )
    assert booked.appointment_type.code == "pit-session"
    assert booked.created_by == clinician


def test_the_sessions_own_next_interval_wins_over_the_course_interval(clinician_client, course, target):
    session = signed_session(course, at(target - timedelta(days=14), 9, 37), number=1, next_interval_days=14)
    proposal = clinician_client.get(f"{NEXT}?session={session.pk}").context["proposal"]
    # 09:37 is brought onto the 5-minute grid the slots use.
    assert (proposal.interval_days, proposal.starts_at) == (14, at(target, 9, 35))


def test_from_the_course_page_it_counts_from_the_last_booked_appointment(
    front_desk_client, clinician, course, session, target
):
    appointment(at(target, 11), clinician=clinician, course=course)
    proposal = front_desk_client.get(f"{NEXT}?course={course.pk}").context["proposal"]
    assert proposal.starts_at == at(target + timedelta(days=7), 11)
    assert "appointment on" in proposal.basis


def test_a_cancelled_or_missed_appointment_is_not_counted_from(clinician_client, clinician, course, session, target):
    appointment(at(target, 11), clinician=clinician, course=course, status=AppointmentStatus.CANCELLED)
    proposal = clinician_client.get(f"{NEXT}?course={course.pk}").context["proposal"]
    assert proposal.starts_at == at(target, 10)


def test_a_clash_proposes_the_nearest_free_slot_that_day_and_says_so(
    clinician_client, clinician, course, session, target
):
    appointment(at(target, 10), clinician=clinician, patient=PatientFactory())
    page = clinician_client.get(f"{NEXT}?session={session.pk}")
    proposal = page.context["proposal"]
    assert proposal.wanted == at(target, 10)
    assert proposal.starts_at == at(target, 9, 40)  # 20 minutes away, as is 10:20: the earlier one
    assert "taken" in proposal.note and proposal.note in page.content.decode()


def test_outside_working_hours_proposes_the_nearest_working_slot(clinician_client, clinician):
    course = course_for(clinician, interval_days=14)
    saturday = timezone.localdate() + timedelta(days=(5 - timezone.localdate().weekday()) % 7)
    if (saturday - timezone.localdate()).days < 2:
        saturday += timedelta(days=7)
    signed_session(course, at(saturday - timedelta(days=14), 10), number=1)
    proposal = clinician_client.get(f"{NEXT}?course={course.pk}").context["proposal"]
    assert proposal.wanted == at(saturday, 10)
    assert proposal.starts_at == at(saturday - timedelta(days=1), 17, 40)  # Friday's last slot is nearest
    assert "outside the clinician's working hours" in proposal.note


def test_posting_a_taken_slot_is_refused_with_alternatives_then_one_click_books_one(
    clinician_client, clinician, course, session, target
):
    other = appointment(at(target, 10), clinician=clinician, patient=PatientFactory())
    url = f"{NEXT}?session={session.pk}"
    refused = clinician_client.post(url, {"clinician": clinician.pk, "starts_at": local_form_value(at(target, 10))})
    assert refused.status_code == 409
    assert "already booked" in " ".join(refused.context["form"].errors["starts_at"])
    alternatives = refused.context["alternatives"]
    assert alternatives and at(target, 9, 40) in [slot.starts_at for slot in alternatives]
    assert f'name="starts_at" value="{local_form_value(at(target, 9, 40))}"' in refused.content.decode()
    assert list(Appointment.objects.all()) == [other]

    clinician_client.post(url, {"clinician": clinician.pk, "starts_at": local_form_value(alternatives[0].starts_at)})
    assert Appointment.objects.filter(course=course, starts_at=alternatives[0].starts_at).exists()


def test_the_proposal_is_never_in_the_past(clinician_client, clinician):
    course = course_for(clinician, interval_days=7, started_on=timezone.localdate() - timedelta(days=60))
    signed_session(course, timezone.now() - timedelta(days=60), number=1)
    proposal = clinician_client.get(f"{NEXT}?course={course.pk}").context["proposal"]
    assert proposal.wanted > timezone.now()
    assert "already past" in proposal.note


# --- Series --------------------------------------------------------------------------------------------------------


def series_data(clinician, first, **overrides) -> dict:
    data = {"clinician": clinician.pk, "starts_at": local_form_value(first), "every_days": "7", "count": "4"}
    data.update(overrides)
    return data


def test_series_form_defaults_to_the_course_interval_and_the_sessions_left(
    clinician_client, clinician, course, session, target
):
    appointment(at(target, 10), clinician=clinician, course=course)  # one to come
    initial = clinician_client.get(f"{SERIES}?course={course.pk}").context["form"].initial
    # 6 planned, 1 recorded, 1 in the diary.
    assert (initial["every_days"], initial["count"]) == (7, 4)
    assert initial["starts_at"] == timezone.localtime(at(target + timedelta(days=7), 10))


def test_series_every_7_days_x_4_is_previewed_then_booked_linked_to_the_course_with_a_report(
    clinician_client, clinician, course, target
):
    url = f"{SERIES}?course={course.pk}"
    preview = clinician_client.post(url, series_data(clinician, at(target, 10)))
    assert preview.status_code == 200
    assert [row.starts_at for row in preview.context["preview"]] == [
        at(target + timedelta(days=7 * week), 10) for week in range(4)
    ]
    assert not Appointment.objects.exists()  # a preview books nothing

    booked = clinician_client.post(url, {**series_data(clinician, at(target, 10)), "confirm": "1"})
    assert booked.status_code == 302
    assert booked.url == url
    appointments = list(Appointment.objects.order_by("starts_at"))
    assert [a.starts_at for a in appointments] == [at(target + timedelta(days=7 * week), 10) for week in range(4)]
    assert {(a.course_id, a.patient_id, a.clinician_id) for a in appointments} == {
        (course.pk, course.patient_id, clinician.pk)
    }

    report = clinician_client.get(url)
    assert [row.starts_at for row in report.context["report"]] == [a.starts_at for a in appointments]
    assert "4 of 4 appointments booked." in report.content.decode()
    # Shown once: the next visit is the form again, and reloading it cannot book twice.
    assert clinician_client.get(url).context["report"] is None
    assert Appointment.objects.count() == 4


def test_series_clash_takes_the_nearest_free_slot_and_the_report_says_so(clinician_client, clinician, course, target):
    clash = at(target + timedelta(days=7), 10)
    appointment(clash, clinician=clinician, patient=PatientFactory())
    url = f"{SERIES}?course={course.pk}"
    preview = clinician_client.post(url, series_data(clinician, at(target, 10))).context["preview"]
    assert [row.moved for row in preview] == [False, True, False, False]

    clinician_client.post(url, {**series_data(clinician, at(target, 10)), "confirm": "1"})
    rows = clinician_client.get(url).context["report"]
    assert rows[1].wanted == clash and rows[1].starts_at == at(target + timedelta(days=7), 9, 40)
    assert "already booked" in rows[1].note and "instead" in rows[1].note
    assert [row.note for row in rows[::2]] == ["", ""]
    assert Appointment.objects.filter(course=course).count() == 4


def test_series_with_every_slot_in_the_window_gone_books_nothing_for_that_date(clinician, course, target):
    second = target + timedelta(days=7)
    leave = {"starts_on": second - timedelta(days=2), "ends_on": second + timedelta(days=20)}
    TimeOff.objects.create(clinician=clinician, **leave)
    results = followups.series_book(
        patient=course.patient,
        clinician=clinician,
        appointment_type=pit_type(),
        first_starts_at=at(target, 10),
        every_days=7,
        count=2,
        by=clinician,
        course=course,
    )
    assert results[0].booked.starts_at == at(target, 10)
    assert results[1].booked is None
    assert "no free slot was found within 14 days" in results[1].note
    assert Appointment.objects.count() == 1


# --- Bad input -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"count": "0"}, "count", "greater than or equal to 1"),
        ({"count": "21"}, "count", "less than or equal to 20"),
        ({"every_days": "0"}, "every_days", "greater than or equal to 1"),
        ({"every_days": "91"}, "every_days", "less than or equal to 90"),
        ({"starts_at": "2020-01-06T10:00"}, "starts_at", "still to come"),
        ({"starts_at": "2027-02-30T10:00"}, "starts_at", "valid date"),
        ({"clinician": "999999"}, "clinician", "valid choice"),
    ],
)
def test_bad_series_input_is_refused_next_to_the_field_and_nothing_is_saved(
    clinician_client, clinician, course, target, overrides, field, message
):
    url = f"{SERIES}?course={course.pk}"
    response = clinician_client.post(url, {**series_data(clinician, at(target, 10)), **overrides, "confirm": "1"})
    assert response.status_code == 200
    assert message in " ".join(response.context["form"].errors[field])
    assert not Appointment.objects.exists()


@pytest.mark.parametrize("status", [CourseStatus.COMPLETED, CourseStatus.DISCONTINUED])
def test_a_closed_course_is_refused_and_nothing_is_saved(clinician_client, clinician, course, target, status):
    type(course).objects.filter(pk=course.pk).update(**closed(status))
    for url in (f"{NEXT}?course={course.pk}", f"{SERIES}?course={course.pk}"):
        assert clinician_client.get(url).status_code == 409
        response = clinician_client.post(url, {**series_data(clinician, at(target, 10)), "confirm": "1"})
        assert response.status_code == 409
        assert "no more sessions can be booked" in response.content.decode()
    assert not Appointment.objects.exists()


def test_a_session_of_another_course_is_refused(clinician_client, clinician, course, session, target):
    other_course = course_for(clinician)
    url = f"{NEXT}?course={other_course.pk}&session={session.pk}"
    assert clinician_client.get(url).status_code == 400
    assert clinician_client.post(url, series_data(clinician, at(target, 10))).status_code == 400
    assert not Appointment.objects.exists()


@pytest.mark.parametrize(
    ("query", "status"),
    [("", 400), ("?course=999999", 404), ("?session=999999", 404), ("?course=abc", 404), ("?session=", 400)],
)
@pytest.mark.parametrize("url", [NEXT, SERIES])
def test_missing_or_unknown_ids(clinician_client, url, query, status):
    assert clinician_client.get(f"{url}{query}").status_code == status


def test_the_service_refuses_bad_series_before_booking_anything(clinician, course, target):
    series = {
        "patient": course.patient,
        "clinician": clinician,
        "appointment_type": pit_type(),
        "first_starts_at": at(target, 10),
        "by": clinician,
        "course": course,
    }
    for every_days, count in [(7, 0), (7, 21), (0, 4), (91, 4)]:
        with pytest.raises(ValidationError):
            followups.series_book(**series, every_days=every_days, count=count)
    with pytest.raises(ValidationError, match="another patient"):
        followups.series_book(**{**series, "patient": PatientFactory()}, every_days=7, count=2)
    with pytest.raises(PermissionDenied):
        followups.series_book(**{**series, "by": UserFactory(role=Role.PATIENT)}, every_days=7, count=2)
    assert not Appointment.objects.exists()


def test_without_a_pit_session_type_the_page_says_so(clinician_client, course):
    AppointmentType.objects.filter(code="pit-session").update(active=False)
    response = clinician_client.get(f"{NEXT}?course={course.pk}")
    assert response.status_code == 409
    assert "appointment type" in response.content.decode()


# --- Who may ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", [NEXT, SERIES])
def test_anonymous_users_are_sent_to_sign_in(client, course, url):
    asked_for = f"{url}?course={course.pk}"
    response = client.get(asked_for)
    assert response.status_code == 302
    assert urlsplit(response.url).path == reverse("login")


@pytest.mark.parametrize("persona", ["patient_client", "outsider_client", "manager_client"])
@pytest.mark.parametrize("url", [NEXT, SERIES])
def test_roles_without_booking_and_course_access_get_403(request, persona, course, target, clinician, url):
    client = request.getfixturevalue(persona)
    assert client.get(f"{url}?course={course.pk}").status_code == 403
    assert client.post(f"{url}?course={course.pk}", series_data(clinician, at(target, 10))).status_code == 403
    assert client.get(f"{url}?course=999999").status_code == 403  # refused before anything is looked up
    assert not Appointment.objects.exists()


def test_the_front_desk_books_from_a_session_without_seeing_its_content(front_desk_client, course, session, target):
    page = front_desk_client.get(f"{NEXT}?session={session.pk}")
    assert page.status_code == 200
    assert page.context["proposal"].starts_at == at(target, 10)
    assert session.lot_number not in page.content.decode()


def test_another_clinician_can_be_chosen(clinician_client, course, session, target):
    colleague = working_clinician(username="dora")
    response = clinician_client.post(
        f"{NEXT}?session={session.pk}", {"clinician": colleague.pk, "starts_at": local_form_value(at(target, 11))}
    )
    assert response.status_code == 302
    assert Appointment.objects.get().clinician == colleague
