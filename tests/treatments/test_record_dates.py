"""Dates of what happened are plausible: no session, assessment or appointment before the patient was born, no
session or review before its course started, no session or assessment more than a day ahead. The forms say so
next to the field; the database refuses such rows however they are written."""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from assessments.models import Assessment
from scheduling.models import Appointment
from scheduling.services import appointment_move
from tests.factories import AssessmentFactory, CourseFactory, PatientFactory, SessionFactory
from tests.portal.helpers import make_appointment
from tests.scheduling.factories import appointment_type, every_day, local_input
from treatments.models import InjectionSession, TreatmentCourse


def _refused(write, *args, **kwargs) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        write(*args, **kwargs)


@pytest.fixture
def course(db):
    return CourseFactory(patient=PatientFactory(date_of_birth=date(1980, 6, 1)), started_on=date(2024, 3, 4))


def test_the_database_refuses_a_session_before_the_birth_or_the_course_or_days_ahead(course):
    for moment in (datetime(1900, 1, 1, tzinfo=UTC), datetime(2024, 3, 1, 12, tzinfo=UTC),
                   timezone.now() + timedelta(days=2)):  # fmt: skip
        _refused(SessionFactory, course=course, performed_at=moment)
    first_day = SessionFactory(course=course, performed_at=datetime(2024, 3, 4, 9, tzinfo=UTC))
    session = InjectionSession.objects.filter(pk=first_day.pk)
    _refused(session.update, performed_at=datetime(1979, 1, 1, tzinfo=UTC))


def test_the_database_refuses_an_assessment_before_the_birth_or_days_ahead_and_a_review_before_its_course(course):
    patient = course.patient
    for moment in (datetime(1900, 1, 1, tzinfo=UTC), timezone.now() + timedelta(days=2)):
        _refused(AssessmentFactory, patient=patient, assessed_at=moment)
    before_course = datetime(2024, 2, 1, 10, tzinfo=UTC)
    _refused(AssessmentFactory, patient=patient, course=course, kind="review", pgic=3, assessed_at=before_course)
    # The first assessment comes before the course it leads to.
    AssessmentFactory(patient=patient, course=course, kind="initial", assessed_at=before_course)
    assert Assessment.objects.count() == 1


def test_the_database_refuses_a_course_started_before_the_patient_was_born(course):
    _refused(TreatmentCourse.objects.filter(pk=course.pk).update, started_on=date(1980, 1, 1))


def test_the_database_refuses_an_appointment_before_the_patient_was_born(course, clinician):
    def book(starts_at):
        Appointment.objects.create(
            patient=course.patient, clinician=clinician, appointment_type=appointment_type(), starts_at=starts_at,
            ends_at=starts_at + timedelta(minutes=30), created_by=clinician,
        )  # fmt: skip

    _refused(book, datetime(1975, 5, 1, 10, tzinfo=UTC))
    book(datetime(2025, 5, 1, 10, tzinfo=UTC))  # an appointment in the past is history, not refused
    assert Appointment.objects.count() == 1


def test_booking_before_the_patient_was_born_is_refused_next_to_the_time(front_desk_client, clinician):
    every_day(clinician)
    soon = timezone.localtime() + timedelta(minutes=2)
    patient = PatientFactory(date_of_birth=soon.date() + timedelta(days=1))  # registered a day ahead, as allowed
    data = {
        "patient": str(patient.pk), "clinician": str(clinician.pk), "appointment_type": str(appointment_type().pk),
        "starts_at": local_input(soon), "notes": "", "course": "",
    }  # fmt: skip
    response = front_desk_client.post(reverse("scheduling:book"), data)
    assert response.status_code == 200
    assert "before the patient was born" in " ".join(response.context["form"].errors["starts_at"])
    assert not Appointment.objects.exists()


def test_a_course_cannot_start_before_the_patient_was_born(clinician_client, course):
    patient = course.patient
    data = {"condition": str(course.condition_id), "planned_sessions": "6", "interval_days": "7",
            "started_on": "1979-12-31"}  # fmt: skip
    response = clinician_client.post(reverse("treatments:course_new", args=[patient.pk]), data)
    assert response.status_code == 200
    assert "before the patient was born" in " ".join(response.context["form"].errors["started_on"])
    assert TreatmentCourse.objects.count() == 1


def test_moving_an_appointment_to_before_the_patient_was_born_is_refused(clinician):
    soon = timezone.localtime() + timedelta(minutes=2)
    patient = PatientFactory(date_of_birth=soon.date() + timedelta(days=1))
    appointment = make_appointment(patient, soon + timedelta(days=2), clinician=clinician)
    with pytest.raises(ValidationError, match="before the patient was born"):
        appointment_move(appointment=appointment, starts_at=soon, by=clinician)
    appointment.refresh_from_db()
    assert appointment.starts_at > soon
