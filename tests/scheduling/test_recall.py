"""The recall list (courses to call about) and the patient page's appointments card."""

from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.contrib.auth.context_processors import PermWrapper
from django.db import connection
from django.template.loader import render_to_string
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from scheduling.models import AppointmentStatus
from scheduling.queries import appointments_for_patient, recall_list
from tests.factories import AssessmentFactory, PatientFactory, SessionFactory, closed, signed_session
from tests.scheduling.followup_helpers import appointment, course_for
from treatments.models import CourseStatus

RECALL = reverse("scheduling:recall")
MAX_QUERIES = 12


def days(n: int, hours: int = 0):
    return timezone.now() + timedelta(days=n, hours=hours)


@pytest.fixture
def courses(clinician):
    """One course per case, named for what makes it (not) need a call."""
    made = {name: course_for(clinician) for name in _CASES}
    appointment(days(7), clinician=clinician, course=made["booked"])
    appointment(days(7), clinician=clinician, course=made["only_cancelled"], status=AppointmentStatus.CANCELLED)
    appointment(days(-7), clinician=clinician, course=made["only_past"], status=AppointmentStatus.COMPLETED)
    appointment(days(7, hours=1), clinician=clinician, course=made["booked_but_due_review"])
    AssessmentFactory(
        patient=made["booked_but_due_review"].patient, course=made["booked_but_due_review"], assessed_at=days(-40)
    )
    for number in range(1, 4):
        signed_session(course=made["booked_but_due_review"], number=number, performed_at=days(-30 + 7 * number))
    SessionFactory(course=made["never_booked"], number=1, performed_at=days(-10))
    for name, status in (("completed", CourseStatus.COMPLETED), ("discontinued", CourseStatus.DISCONTINUED)):
        type(made[name]).objects.filter(pk=made[name].pk).update(**closed(status, "Better"))
    appointment(days(7, hours=2), clinician=clinician, patient=made["booked_without_course_link"].patient)
    return made


_CASES = [
    "never_booked",
    "booked",
    "only_cancelled",
    "only_past",
    "booked_but_due_review",
    "completed",
    "discontinued",
    "booked_without_course_link",
]


def test_who_needs_a_call(courses):
    listed = {course.pk: course for course in recall_list()}
    expected = {"never_booked", "only_cancelled", "only_past", "booked_but_due_review", "booked_without_course_link"}
    assert {name for name, course in courses.items() if course.pk in listed} == expected
    due = listed[courses["booked_but_due_review"].pk]
    assert (due.sessions_since_review, due.next_appointment_at is not None) == (3, True)
    never = listed[courses["never_booked"].pk]
    assert (never.sessions_since_review, never.next_appointment_at) == (None, None)
    assert never.last_session_at is not None


def test_the_page_lists_them_with_one_click_booking(clinician_client, courses):
    page = clinician_client.get(RECALL)
    body = page.content.decode()
    assert page.status_code == 200
    assert f"{reverse('scheduling:book_next')}?course={courses['never_booked'].pk}" in body
    assert f"recall-course-{courses['booked'].pk}" not in body
    assert "Review due: 3 sessions" in body


def test_an_empty_recall_list_says_so(clinician_client, db):
    assert 'id="recall-empty"' in clinician_client.get(RECALL).content.decode()


def _courses_needing_a_call(clinician, first: int, last: int) -> None:
    for index in range(first, last):
        course = course_for(clinician, started_on=timezone.localtime(days(-10 - index)).date())
        SessionFactory(course=course, number=1, performed_at=days(-10 - index))
        if index % 3 == 0:
            appointment(days(-3 - index), clinician=clinician, course=course, status=AppointmentStatus.COMPLETED)
        if index % 3 == 1:
            appointment(days(3 + index), clinician=clinician, course=course, status=AppointmentStatus.CANCELLED)


def _queries_for_recall(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(RECALL)
    assert response.status_code == 200
    return len(queries)


def test_the_page_takes_a_fixed_number_of_queries(clinician_client, clinician):
    _courses_needing_a_call(clinician, 0, 3)
    few = _queries_for_recall(clinician_client)
    _courses_needing_a_call(clinician, 3, 30)
    many = _queries_for_recall(clinician_client)
    assert len(clinician_client.get(RECALL).context["page"].object_list) == 30
    assert few == many <= MAX_QUERIES


@pytest.mark.parametrize(
    ("persona", "status"),
    [("clinician_client", 200), ("front_desk_client", 200), ("manager_client", 403), ("patient_client", 403)],
)
def test_who_may_see_the_recall_list(request, persona, status):
    assert request.getfixturevalue(persona).get(RECALL).status_code == status


def test_outsiders_get_403_and_anonymous_users_sign_in(outsider_client, client):
    assert outsider_client.get(RECALL).status_code == 403
    response = client.get(RECALL)
    assert response.status_code == 302 and urlsplit(response.url).path == reverse("login")


# --- The patient page's appointments --------------------------------------------------------------------------


@pytest.fixture
def history(clinician):
    course = course_for(clinician)
    patient = course.patient
    return {
        "patient": patient,
        "course": course,
        "later": appointment(days(14), clinician=clinician, course=course),
        "soon": appointment(days(7), clinician=clinician, course=course),
        "cancelled": appointment(days(3), clinician=clinician, patient=patient, status=AppointmentStatus.CANCELLED),
        "done": appointment(days(-7), clinician=clinician, course=course, status=AppointmentStatus.COMPLETED),
        "missed": appointment(days(-14), clinician=clinician, patient=patient, status=AppointmentStatus.NO_SHOW),
        "someone_else": appointment(days(7) + timedelta(hours=1), clinician=clinician, patient=PatientFactory()),
    }


def test_appointments_for_patient_splits_past_and_upcoming_in_one_query(history, django_assert_num_queries):
    with django_assert_num_queries(1):
        found = appointments_for_patient(history["patient"])
        names = {value.pk: key for key, value in history.items() if hasattr(value, "starts_at")}
        upcoming = [names[a.pk] for a in found.upcoming]
        past = [names[a.pk] for a in found.past]
        shown = [(a.clinician, a.appointment_type.name, a.course and a.course.condition.name) for a in found.past]
    assert upcoming == ["cancelled", "soon", "later"]
    assert past == ["done", "missed"]
    for line, (clinician, kind, condition) in zip(found.past, shown, strict=True):
        booked = history[names[line.pk]]
        assert clinician == booked.clinician
        assert kind == booked.appointment_type.name
        assert condition == (booked.course.condition.name if booked.course else None)


def appointments_card(user, patient) -> str:
    """The patient page's appointments card (scheduling/templates/scheduling/_patient_appointments.html)."""
    context = {"appointments": appointments_for_patient(patient), "perms": PermWrapper(user), "book_url": ""}
    return render_to_string("scheduling/_patient_appointments.html", context)


def test_the_appointments_card_shows_status_and_links(history, clinician):
    html = appointments_card(clinician, history["patient"])
    assert html.count('id="appointment-') == 5
    assert "Did not attend" in html and "Cancelled" in html and "Patient asked" in html
    assert reverse("treatments:course", args=[history["course"].pk]) in html
    assert reverse("scheduling:appointment", args=[history["missed"].pk]) in html
    assert f'id="appointment-{history["someone_else"].pk}"' not in html


def test_without_sight_of_courses_the_card_has_no_course_links(history, manager):
    html = appointments_card(manager, history["patient"])
    assert reverse("treatments:course", args=[history["course"].pk]) not in html
    assert html.count('id="appointment-') == 5
