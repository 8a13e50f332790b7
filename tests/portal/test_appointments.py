"""The patient's appointments: listed in the clinic's time, added to a calendar, cancelled with enough notice."""

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone
from icalendar import Calendar

from accounts.models import Role
from pit_portal.outbox.models import EmailKind
from portal.tasks import tell_front_desk_of_cancellation
from scheduling.models import AppointmentStatus
from scheduling.services import SlotTaken, appointment_book
from tests.factories import PatientFactory, UserFactory
from tests.outbox.helpers import owed, record_sends
from tests.portal.helpers import appointment_type, in_days, make_appointment
from tests.scheduling.factories import every_day


@pytest.fixture
def enqueued(monkeypatch) -> list[int]:
    """The outbox ids the messages to the broker would carry (tests.outbox.helpers.owed names them)."""
    return record_sends(monkeypatch)


@pytest.fixture
def clinician_at_work(db):
    clinician = UserFactory(first_name="Nadia", last_name="Okoro", role=Role.CLINICIAN)
    every_day(clinician)
    return clinician


def local_at(days: int, hour: int) -> datetime:
    return timezone.make_aware(datetime.combine(timezone.localdate() + timedelta(days=days), time(hour)))


def cancel_url(appointment) -> str:
    return reverse("portal:appointment_cancel", kwargs={"pk": appointment.pk})


# --- Home ----------------------------------------------------------------------------------------------------


def test_home_lists_upcoming_appointments_in_clinic_time_without_clinical_content(
    patient_client, patient, other_patient, clinician_at_work, settings, django_assert_max_num_queries
):
    settings.TIME_ZONE = "America/New_York"
    starts_at = (timezone.now() + timedelta(days=3)).replace(hour=15, minute=0, second=0, microsecond=0, tzinfo=UTC)
    make_appointment(patient, starts_at, clinician=clinician_at_work)
    make_appointment(patient, in_days(5), status=AppointmentStatus.CANCELLED)
    make_appointment(patient, in_days(-2))
    make_appointment(other_patient, in_days(4))
    # Session, user, roles, own record, the appointments with clinician and check-in in one, the document count
    # (with the documents rule's permission and patient look-ups): none of it grows with the appointments.
    with django_assert_max_num_queries(9):
        response = patient_client.get(reverse("portal:home"))
    html = response.content.decode()
    assert response.status_code == 200
    local = starts_at.astimezone(ZoneInfo("America/New_York"))
    assert f"{local:%H:%M} to " in html
    assert "15:00" not in html
    assert "with Nadia Okoro" in html
    assert html.count('class="card appointment-card') == 1
    assert "sural nerve" not in html and "PIT session" not in html


def test_cancel_button_shows_only_with_a_days_notice(patient_client, patient):
    later = make_appointment(patient, in_days(3))
    soon = make_appointment(patient, timezone.now() + timedelta(hours=20))
    html = patient_client.get(reverse("portal:home")).content.decode()
    assert cancel_url(later) in html
    assert cancel_url(soon) not in html
    assert "020 7946 0000" in html


# --- Calendar file -------------------------------------------------------------------------------------------


def test_calendar_file_parses_and_starts_when_the_appointment_does(patient_client, patient):
    appointment = make_appointment(patient, local_at(3, 10))
    response = patient_client.get(reverse("portal:appointment_ics", kwargs={"pk": appointment.pk}))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    assert response["Content-Disposition"].startswith("attachment;")
    [event] = Calendar.from_ical(response.content).events
    assert str(event["UID"]) == f"appointment-{appointment.pk}@portal.example.org"
    assert event.decoded("DTSTART") == appointment.starts_at
    assert event.decoded("DTEND") == appointment.ends_at
    assert event["DTSTART"].to_ical().endswith(b"Z")  # UTC
    assert str(event["SUMMARY"]) == "Appointment at Harbour Clinic"
    assert b"sural" not in response.content


# --- Cancelling ----------------------------------------------------------------------------------------------


def test_cancelling_a_day_ahead_frees_the_slot_and_tells_the_front_desk(
    patient_client, patient, front_desk, clinician_at_work, enqueued, django_capture_on_commit_callbacks
):
    appointment = make_appointment(patient, local_at(3, 10), clinician=clinician_at_work)
    newcomer = PatientFactory()
    booking = {"clinician": clinician_at_work, "appointment_type": appointment_type(), "by": front_desk}
    with pytest.raises(SlotTaken):
        appointment_book(patient=newcomer, starts_at=appointment.starts_at, **booking)

    with django_capture_on_commit_callbacks(execute=True):
        response = patient_client.post(cancel_url(appointment), {"reason": "I have a cold"})
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:home")
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.CANCELLED
    assert appointment.cancel_reason == "By the patient online: I have a cold"
    assert sorted(owed(enqueued)) == [
        (EmailKind.CANCELLED, appointment.pk),
        (EmailKind.DESK_CANCELLATION, appointment.pk),
    ]

    rebooked = appointment_book(patient=newcomer, starts_at=appointment.starts_at, **booking)
    assert rebooked.starts_at == appointment.starts_at


def test_front_desk_email_names_the_time_but_not_the_patient_or_reason(patient, clinician_at_work):
    appointment = make_appointment(patient, local_at(3, 10), clinician=clinician_at_work)
    appointment.status, appointment.cancel_reason = AppointmentStatus.CANCELLED, "By the patient online: my knee"
    appointment.save()
    assert tell_front_desk_of_cancellation(appointment.pk) is True
    [message] = mail.outbox
    assert message.to == ["desk@harbour.example"]
    assert patient.clinic_number in message.body
    assert f"{timezone.localtime(appointment.starts_at):%H:%M}" in message.body
    assert f"https://portal.example.org/appointments/{appointment.pk}/" in message.body
    assert patient.family_name not in message.body + message.subject
    assert "knee" not in message.body


def test_no_front_desk_email_without_a_clinic_address(
    patient_client, patient, settings, enqueued, django_capture_on_commit_callbacks
):
    settings.CLINIC_EMAIL = ""
    appointment = make_appointment(patient, in_days(3))
    with django_capture_on_commit_callbacks(execute=True):
        patient_client.post(cancel_url(appointment), {"reason": "Away"})
    assert EmailKind.DESK_CANCELLATION not in dict(owed(enqueued))


def test_cancelling_within_a_day_is_refused_with_the_clinics_phone(patient_client, patient, enqueued):
    appointment = make_appointment(patient, timezone.now() + timedelta(hours=23))
    page = patient_client.get(cancel_url(appointment))
    assert "less than 24 hours away" in page.content.decode()
    response = patient_client.post(cancel_url(appointment), {"reason": "Something came up"})
    assert response.status_code == 409
    assert "020 7946 0000" in response.content.decode()
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.BOOKED


def test_cancelling_needs_a_reason(patient_client, patient):
    appointment = make_appointment(patient, in_days(3))
    response = patient_client.post(cancel_url(appointment), {"reason": "   "})
    assert response.status_code == 400
    assert "Please tell us briefly why you are cancelling." in response.content.decode()
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.BOOKED


def test_an_already_cancelled_appointment_cannot_be_cancelled_again(patient_client, patient):
    appointment = make_appointment(patient, in_days(3), status=AppointmentStatus.CANCELLED)
    assert patient_client.post(cancel_url(appointment), {"reason": "Again"}).status_code == 409
