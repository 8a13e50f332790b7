"""Booking, moving, one-click status changes and cancelling, through the views the desk uses."""

from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Role
from scheduling.models import Appointment, AppointmentStatus
from tests.factories import CourseFactory, UserFactory
from tests.scheduling.factories import (
    AppointmentFactory,
    AppointmentTypeFactory,
    appointment_type,
    at,
    every_day,
    local_input,
    tomorrow,
)

BOOK = "scheduling:book"


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


def booking(patient, clinician, starts_at, /, **overrides) -> dict:
    """The booking form as the browser posts it."""
    data = {
        "patient": str(patient.pk),
        "clinician": str(clinician.pk),
        "appointment_type": str(appointment_type("pit-session").pk),
        "starts_at": local_input(starts_at),
        "notes": "",
        "course": "",
    }
    data.update(overrides)
    return data


def _errors(response) -> str:
    form = response.context["form"]
    return " ".join(message for messages in form.errors.values() for message in messages)


# --- Booking ----------------------------------------------------------------------------------


def test_front_desk_books_a_free_slot_and_lands_on_that_day(front_desk_client, front_desk, working, patient):
    starts_at = at(tomorrow(), 10)
    response = front_desk_client.post(reverse(BOOK), booking(patient, working, starts_at, notes="Bring scan"))
    appointment = Appointment.objects.get()
    assert response.status_code == 302
    expected = f"{reverse('scheduling:day')}?date={tomorrow().isoformat()}&clinician={working.pk}"
    assert response.url == f"{expected}#appointment-{appointment.pk}"
    assert (appointment.patient, appointment.clinician, appointment.created_by) == (patient, working, front_desk)
    assert (appointment.starts_at, appointment.ends_at) == (starts_at, starts_at + timedelta(minutes=20))
    assert (appointment.notes, appointment.status) == ("Bring scan", AppointmentStatus.BOOKED)
    page = front_desk_client.get(response.url).content.decode()
    assert "Charlie Day booked with Alice Carter" in page
    assert f'id="appointment-{appointment.pk}"' in page


def test_a_booking_can_belong_to_the_patients_course(front_desk_client, working, patient):
    course = CourseFactory(patient=patient)
    other_course = CourseFactory()
    url = reverse(BOOK)
    refused = front_desk_client.post(url, booking(patient, working, at(tomorrow(), 10), course=str(other_course.pk)))
    assert "this patient's active courses" in " ".join(refused.context["form"].errors["course"])
    front_desk_client.post(url, booking(patient, working, at(tomorrow(), 10), course=str(course.pk)))
    assert Appointment.objects.get().course == course


def test_the_booking_form_is_prefilled_from_a_calendar_slot(front_desk_client, working, patient):
    params = {"clinician": working.pk, "starts_at": f"{tomorrow().isoformat()}T10:15", "patient": patient.pk}
    response = front_desk_client.get(reverse(BOOK), params)
    body = response.content.decode()
    assert response.status_code == 200
    assert f'value="{tomorrow().isoformat()}T10:15"' in body
    assert f'<option value="{working.pk}" selected>' in body
    assert "Charlie Day" in body and f'name="patient" value="{patient.pk}"' in body


def test_patient_search_keeps_the_chosen_slot(front_desk_client, working, patient, other_patient):
    slot = {"clinician": working.pk, "starts_at": f"{tomorrow().isoformat()}T10:15"}
    response = front_desk_client.get(reverse(BOOK), {**slot, "q": "charlie"})
    body = response.content.decode()
    assert f"clinician={working.pk}&amp;starts_at={tomorrow().isoformat()}T10%3A15&amp;patient={patient.pk}" in body
    assert "Whitfield" not in body
    partial = front_desk_client.get(reverse(BOOK), {**slot, "q": "dana"}, headers={"HX-Target": "patient-choices"})
    assert "<html" not in partial.content.decode() and "Whitfield, Dana" in partial.content.decode()


def test_a_taken_slot_shows_the_nearest_free_times_and_saves_nothing(
    front_desk_client, working, patient, other_patient
):
    AppointmentFactory(clinician=working, patient=other_patient, starts_at=at(tomorrow(), 10))
    response = front_desk_client.post(reverse(BOOK), booking(patient, working, at(tomorrow(), 10, 5)))
    assert response.status_code == 200
    assert "already booked at that time" in response.content.decode()
    alternatives = response.context["alternatives"]
    assert alternatives
    assert 'name="alternative"' in response.content.decode()
    assert Appointment.objects.count() == 1

    # One click on an alternative books it, with the rest of the form as entered.
    value, _ = alternatives[0]
    retry = booking(patient, working, at(tomorrow(), 10, 5), notes="kept", alternative=value)
    assert front_desk_client.post(reverse(BOOK), retry).status_code == 302
    booked = Appointment.objects.get(patient=patient)
    assert local_input(booked.starts_at) == value.split("@")[1]
    assert booked.notes == "kept"


def test_outside_working_hours_is_refused_for_the_front_desk(front_desk_client, working, patient):
    response = front_desk_client.post(reverse(BOOK), booking(patient, working, at(tomorrow(), 19)))
    assert response.status_code == 200
    assert "outside the clinician's working hours" in " ".join(response.context["form"].errors["starts_at"])
    assert "outside_hours_reason" not in response.context["form"].fields
    assert not Appointment.objects.exists()


def test_a_manager_books_outside_hours_only_with_a_reason(manager_client, working, patient):
    late = booking(patient, working, at(tomorrow(), 19))
    refused = manager_client.post(reverse(BOOK), late)
    assert "Give the reason" in " ".join(refused.context["form"].errors["outside_hours_reason"])
    assert not Appointment.objects.exists()
    manager_client.post(reverse(BOOK), {**late, "outside_hours_reason": "Only evening free; agreed with Alice"})
    assert Appointment.objects.get().outside_hours_reason == "Only evening free; agreed with Alice"


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"starts_at": "2020-01-01T10:00"}, "starts_at", "already passed"),
        ({"starts_at": "2030-02-30T10:00"}, "starts_at", "Enter a date and time"),
        ({"starts_at": "tomorrow at ten"}, "starts_at", "Enter a date and time"),
        ({"starts_at": ""}, "starts_at", "required"),
        ({"patient": ""}, "patient", "Choose the patient"),
        ({"patient": "999999"}, "patient", "not on file"),
        ({"clinician": ""}, "clinician", "required"),
        ({"appointment_type": ""}, "appointment_type", "required"),
        ({"appointment_type": "999999"}, "appointment_type", "no longer offered"),
    ],
)
def test_bad_booking_input_is_refused_next_to_the_field(front_desk_client, working, patient, overrides, field, message):
    response = front_desk_client.post(reverse(BOOK), booking(patient, working, at(tomorrow(), 10), **overrides))
    assert response.status_code == 200
    assert message in " ".join(response.context["form"].errors.get(field, []))
    assert not Appointment.objects.exists()


def test_an_inactive_type_cannot_be_booked(front_desk_client, working, patient):
    retired = AppointmentTypeFactory(active=False)
    data = booking(patient, working, at(tomorrow(), 10), appointment_type=str(retired.pk))
    response = front_desk_client.post(reverse(BOOK), data)
    assert "no longer offered" in _errors(response)
    assert not Appointment.objects.exists()


def test_someone_who_is_not_a_clinician_cannot_be_booked(front_desk_client, front_desk, working, patient):
    response = front_desk_client.post(reverse(BOOK), booking(patient, front_desk, at(tomorrow(), 10)))
    assert "Choose one of the clinicians" in " ".join(response.context["form"].errors["clinician"])
    assert not Appointment.objects.exists()


def test_a_patient_booked_elsewhere_at_that_time_is_a_warning_then_booked_on_confirm(
    front_desk_client, working, colleague, patient
):
    AppointmentFactory(clinician=colleague, patient=patient, starts_at=at(tomorrow(), 10))
    data = booking(patient, working, at(tomorrow(), 10, 10))
    warned = front_desk_client.post(reverse(BOOK), data)
    assert warned.status_code == 200
    assert "already has an appointment at that time" in warned.content.decode()
    assert "Zoe Young" in warned.content.decode()
    assert 'name="confirm_clash"' in warned.content.decode()
    assert Appointment.objects.count() == 1
    confirmed = front_desk_client.post(reverse(BOOK), {**data, "confirm_clash": "on"})
    assert confirmed.status_code == 302
    assert Appointment.objects.filter(patient=patient).count() == 2


# --- Moving -----------------------------------------------------------------------------------


@pytest.fixture
def booked(working, patient):
    return AppointmentFactory(clinician=working, patient=patient, starts_at=at(tomorrow(), 10))


def test_moving_to_a_free_time_and_clinician(front_desk_client, booked, colleague):
    new_time = at(tomorrow(), 14, 30)
    data = {"starts_at": local_input(new_time), "clinician": str(colleague.pk)}
    response = front_desk_client.post(reverse("scheduling:move", args=[booked.pk]), data)
    booked.refresh_from_db()
    assert response.status_code == 302
    assert (booked.starts_at, booked.ends_at, booked.clinician) == (
        new_time,
        new_time + timedelta(minutes=15),
        colleague,
    )


def test_the_move_form_is_prefilled_from_a_drag_in_the_calendar(front_desk_client, booked, colleague):
    params = {"starts_at": f"{tomorrow().isoformat()}T15:05", "clinician": colleague.pk}
    body = front_desk_client.get(reverse("scheduling:move", args=[booked.pk]), params).content.decode()
    assert f'value="{tomorrow().isoformat()}T15:05"' in body
    assert f'<option value="{colleague.pk}" selected>' in body


def test_moving_into_a_clash_offers_alternatives_and_changes_nothing(front_desk_client, booked, working):
    AppointmentFactory(clinician=working, starts_at=at(tomorrow(), 14))
    data = {"starts_at": local_input(at(tomorrow(), 14, 5)), "clinician": str(working.pk)}
    response = front_desk_client.post(reverse("scheduling:move", args=[booked.pk]), data)
    assert response.status_code == 200
    assert "already booked at that time" in response.content.decode()
    assert response.context["alternatives"]
    # The page shows the appointment as it is stored, not the refused time.
    assert response.context["appointment"].starts_at == at(tomorrow(), 10)
    booked.refresh_from_db()
    assert booked.starts_at == at(tomorrow(), 10)


def test_moving_into_the_past_is_refused(front_desk_client, booked, working):
    data = {"starts_at": local_input(timezone.now() - timedelta(hours=1)), "clinician": str(working.pk)}
    response = front_desk_client.post(reverse("scheduling:move", args=[booked.pk]), data)
    assert "already passed" in _errors(response)
    booked.refresh_from_db()
    assert booked.starts_at == at(tomorrow(), 10)


@pytest.mark.parametrize("status", [AppointmentStatus.CANCELLED, AppointmentStatus.COMPLETED])
def test_only_booked_appointments_move(front_desk_client, working, status):
    past = AppointmentFactory(clinician=working, status=status)
    data = {"starts_at": local_input(at(tomorrow(), 15)), "clinician": str(working.pk)}
    response = front_desk_client.post(reverse("scheduling:move", args=[past.pk]), data)
    assert response.status_code == 409
    assert "only a booked one can be moved" in response.content.decode()
    past.refresh_from_db()
    assert past.starts_at == at(tomorrow(), 10)


# --- One-click status -------------------------------------------------------------------------


def _click(client, appointment, status, htmx=True):
    headers = {"HX-Request": "true"} if htmx else {}
    url = reverse("scheduling:status", args=[appointment.pk])
    return client.post(url, {"status": status, "next": "/calendar/day/"}, headers=headers)


def test_one_click_status_changes_answer_the_updated_block(front_desk_client, booked):
    for status, label in [("arrived", "Arrived"), ("in_treatment", "In treatment"), ("completed", "Completed")]:
        response = _click(front_desk_client, booked, status)
        body = response.content.decode()
        assert response.status_code == 200
        assert body.lstrip().startswith(f'<div class="appt status-{status}"')
        assert f'id="appointment-{booked.pk}"' in body and label in body and "<html" not in body
        booked.refresh_from_db()
        assert booked.status == status


def test_no_show_can_be_marked_and_then_arrival_after_all(front_desk_client, booked):
    _click(front_desk_client, booked, "no_show")
    booked.refresh_from_db()
    assert booked.status == AppointmentStatus.NO_SHOW
    _click(front_desk_client, booked, "arrived")
    booked.refresh_from_db()
    assert booked.status == AppointmentStatus.ARRIVED


def test_without_javascript_a_status_button_comes_back_to_the_page(front_desk_client, booked):
    response = _click(front_desk_client, booked, "arrived", htmx=False)
    assert response.status_code == 302
    assert response.url == "/calendar/day/"


def test_a_next_address_off_site_is_ignored(front_desk_client, booked):
    url = reverse("scheduling:status", args=[booked.pk])
    response = front_desk_client.post(url, {"status": "arrived", "next": "https://evil.example/"})
    assert urlsplit(response.url).netloc == ""


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain form"])
def test_a_cancelled_appointment_cannot_be_marked_arrived(front_desk_client, working, htmx):
    cancelled = AppointmentFactory(clinician=working, status=AppointmentStatus.CANCELLED)
    response = _click(front_desk_client, cancelled, "arrived", htmx=htmx)
    assert response.status_code == 409
    assert "A cancelled appointment cannot be marked arrived." in response.content.decode()
    cancelled.refresh_from_db()
    assert cancelled.status == AppointmentStatus.CANCELLED


def test_an_unknown_status_is_refused_and_nothing_changes(front_desk_client, booked):
    assert _click(front_desk_client, booked, "cancelled").status_code == 400
    assert _click(front_desk_client, booked, "teleported", htmx=False).status_code == 302
    booked.refresh_from_db()
    assert booked.status == AppointmentStatus.BOOKED


def test_status_changes_only_by_post(front_desk_client, booked):
    assert front_desk_client.get(reverse("scheduling:status", args=[booked.pk])).status_code == 405


# --- Cancelling -------------------------------------------------------------------------------


def test_cancelling_needs_a_reason(front_desk_client, booked):
    url = reverse("scheduling:cancel", args=[booked.pk])
    refused = front_desk_client.post(url, {"reason": "   "})
    assert refused.status_code == 200
    assert "Give the reason for cancelling." in refused.content.decode()
    booked.refresh_from_db()
    assert booked.status == AppointmentStatus.BOOKED

    done = front_desk_client.post(url, {"reason": "Patient has flu", "next": "/calendar/day/"})
    assert (done.status_code, done.url) == (302, "/calendar/day/")
    booked.refresh_from_db()
    assert (booked.status, booked.cancel_reason) == (AppointmentStatus.CANCELLED, "Patient has flu")


def test_a_cancelled_slot_can_be_booked_again(front_desk_client, booked, other_patient, working):
    front_desk_client.post(reverse("scheduling:cancel", args=[booked.pk]), {"reason": "Moved away"})
    response = front_desk_client.post(reverse(BOOK), booking(other_patient, working, at(tomorrow(), 10)))
    assert response.status_code == 302


def test_a_completed_appointment_cannot_be_cancelled(front_desk_client, working):
    done = AppointmentFactory(clinician=working, status=AppointmentStatus.COMPLETED)
    response = front_desk_client.post(reverse("scheduling:cancel", args=[done.pk]), {"reason": "Oops"})
    assert response.status_code == 409
    done.refresh_from_db()
    assert done.status == AppointmentStatus.COMPLETED
