"""Booking from the patient page: the appointments card's Book button carries the patient and their open course
into the booking form, and the last signed session of a course with nothing booked offers Book next."""

import re
from datetime import timedelta
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse
from django.utils import timezone

from scheduling.models import AppointmentStatus
from tests.factories import SessionFactory
from tests.factories import closed as closed_columns
from tests.scheduling.followup_helpers import appointment, course_for, signed_session
from treatments.models import CourseStatus

BOOK = reverse("scheduling:book")
BOOK_NEXT = reverse("scheduling:book_next")


def _page(client, patient) -> str:
    response = client.get(reverse("patients:detail", args=[patient.pk]))
    assert response.status_code == 200
    return response.content.decode()


def _book_button(body: str) -> dict[str, list[str]] | None:
    """The query of the appointments card's Book button, or None without one."""
    found = re.search(r'<a [^>]*id="book-for-patient"[^>]*href="([^"]+)"', body)
    if found is None:
        return None
    url = urlsplit(unescape(found.group(1)))
    assert url.path == BOOK
    return parse_qs(url.query)


def _book_next_links(body: str) -> list[str]:
    return [unescape(href) for href in re.findall(rf'href="({re.escape(BOOK_NEXT)}[^"]*)"', body)]


def _days(n: int):
    return timezone.now() + timedelta(days=n)


@pytest.fixture
def open_course(clinician):
    """An active course with a closed, older course of the same patient beside it."""
    course = course_for(clinician)
    older = course_for(clinician, patient=course.patient, started_on=course.started_on - timedelta(days=200))
    type(older).objects.filter(pk=older.pk).update(**closed_columns(CourseStatus.COMPLETED))
    return course


# --- Book --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["front_desk_client", "clinician_client"])
def test_book_button_carries_the_patient_and_their_open_course(request, persona, open_course):
    client = request.getfixturevalue(persona)
    query = _book_button(_page(client, open_course.patient))
    assert query == {"patient": [str(open_course.patient.pk)], "course": [str(open_course.pk)]}


def test_without_an_open_course_the_book_button_carries_the_patient_only(front_desk_client, clinician):
    closed = course_for(clinician)
    type(closed).objects.filter(pk=closed.pk).update(**closed_columns(CourseStatus.DISCONTINUED, "Moved"))
    assert _book_button(_page(front_desk_client, closed.patient)) == {"patient": [str(closed.patient.pk)]}


def test_without_sight_of_courses_the_book_button_names_no_course(manager_client, open_course):
    # The manager books but does not see courses: the link must not name one.
    assert _book_button(_page(manager_client, open_course.patient)) == {"patient": [str(open_course.patient.pk)]}


def test_the_book_button_opens_the_booking_form_with_patient_and_course_chosen(front_desk_client, open_course):
    query = _book_button(_page(front_desk_client, open_course.patient))
    form = front_desk_client.get(BOOK, {key: values[0] for key, values in query.items()})
    assert form.status_code == 200
    body = form.content.decode()
    assert f'name="patient" value="{open_course.patient.pk}"' in body
    assert re.search(rf'<option value="{open_course.pk}"[^>]*selected', body)


def test_a_course_that_is_not_the_patients_is_not_chosen_in_the_booking_form(front_desk_client, clinician, patient):
    someone_elses = course_for(clinician)
    form = front_desk_client.get(BOOK, {"patient": patient.pk, "course": someone_elses.pk})
    assert form.status_code == 200
    assert f'value="{someone_elses.pk}"' not in form.content.decode()


@pytest.mark.parametrize("course", ["", "x", "-1", "99999999999999999999"])
def test_a_nonsense_course_in_the_booking_link_is_ignored_not_a_500(front_desk_client, patient, course):
    assert front_desk_client.get(BOOK, {"patient": patient.pk, "course": course}).status_code == 200


# --- Book next ---------------------------------------------------------------------------------------------------


def test_the_last_signed_session_of_a_course_with_nothing_booked_offers_book_next(front_desk_client, open_course):
    signed_session(open_course, _days(-14), number=1)
    last = signed_session(open_course, _days(-7), number=2)
    appointment(_days(-7), clinician=open_course.created_by, course=open_course, status=AppointmentStatus.COMPLETED)
    appointment(_days(5), clinician=open_course.created_by, course=open_course, status=AppointmentStatus.CANCELLED)
    assert _book_next_links(_page(front_desk_client, open_course.patient)) == [f"{BOOK_NEXT}?session={last.pk}"]


def test_a_course_with_a_live_appointment_to_come_offers_no_book_next(clinician_client, open_course):
    signed_session(open_course, _days(-7), number=1)
    appointment(_days(7), clinician=open_course.created_by, course=open_course)
    assert _book_next_links(_page(clinician_client, open_course.patient)) == []


def test_an_appointment_to_come_outside_the_course_does_not_hide_book_next(clinician_client, open_course):
    last = signed_session(open_course, _days(-7), number=1)
    appointment(_days(7), clinician=open_course.created_by, patient=open_course.patient)
    assert _book_next_links(_page(clinician_client, open_course.patient)) == [f"{BOOK_NEXT}?session={last.pk}"]


def test_a_draft_last_session_offers_no_book_next(clinician_client, open_course):
    signed_session(open_course, _days(-14), number=1)
    SessionFactory(course=open_course, number=2, performed_at=_days(-1))
    assert _book_next_links(_page(clinician_client, open_course.patient)) == []


def test_a_closed_course_offers_no_book_next(clinician_client, clinician):
    course = course_for(clinician)
    signed_session(course, _days(-7), number=1)
    type(course).objects.filter(pk=course.pk).update(**closed_columns(CourseStatus.COMPLETED))
    assert _book_next_links(_page(clinician_client, course.patient)) == []


def test_book_next_from_the_patient_page_proposes_the_next_session(front_desk_client, open_course):
    signed_session(open_course, _days(-7), number=1)
    (link,) = _book_next_links(_page(front_desk_client, open_course.patient))
    assert front_desk_client.get(link).status_code == 200


def test_the_manager_who_cannot_see_courses_gets_no_book_next(manager_client, open_course):
    signed_session(open_course, _days(-7), number=1)
    assert _book_next_links(_page(manager_client, open_course.patient)) == []


# --- Book next on the signed note itself ---------------------------------------------------------------------


def _session_page(client, session) -> str:
    response = client.get(reverse("treatments:session", args=[session.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_a_signed_note_with_nothing_booked_in_its_course_offers_book_next(clinician_client, open_course):
    last = signed_session(open_course, _days(-7), number=1)
    appointment(_days(5), clinician=open_course.created_by, course=open_course, status=AppointmentStatus.CANCELLED)
    appointment(_days(7), clinician=open_course.created_by, patient=open_course.patient)  # outside the course
    assert _book_next_links(_session_page(clinician_client, last)) == [f"{BOOK_NEXT}?session={last.pk}"]


def test_a_signed_note_whose_course_has_an_appointment_to_come_offers_no_book_next(clinician_client, open_course):
    last = signed_session(open_course, _days(-7), number=1)
    appointment(_days(7), clinician=open_course.created_by, course=open_course)
    assert _book_next_links(_session_page(clinician_client, last)) == []


def test_a_signed_note_of_a_closed_course_offers_no_book_next(clinician_client, clinician):
    course = course_for(clinician)
    last = signed_session(course, _days(-7), number=1)
    type(course).objects.filter(pk=course.pk).update(**closed_columns(CourseStatus.COMPLETED))
    assert _book_next_links(_session_page(clinician_client, last)) == []
