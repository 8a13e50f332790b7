import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from assessments.models import AnalgesicUse, Assessment
from tests.factories import AssessmentFactory, CourseFactory, SessionFactory, signed_session
from treatments import services
from treatments.models import CourseStatus
from treatments.queries import courses_due_for_review, with_analgesic_doses


def signed(session, clinician):
    return services.session_sign(session=session, by=clinician)


def course_with_baseline(clinician, baseline: int):
    course = CourseFactory(created_by=clinician)
    course.baseline_assessment = AssessmentFactory(patient=course.patient, course=course, nrs_current=baseline)
    course.save()
    return course


@pytest.fixture
def course_with_sessions(db, clinician):
    course = course_with_baseline(clinician, 8)
    for number, pre in enumerate([7, 6, 4], start=1):
        session = SessionFactory(course=course, number=number, pre_nrs=pre, post_nrs=2, sites=1, notes="secret note")
        signed(session, clinician)
    return course


def course_page(client, course):
    return client.get(reverse("treatments:course", args=[course.pk]))


def session_rows(body: str) -> list[str]:
    return body.split('<table class="table mb-0 align-middle" id="sessions">')[1].split("</table>")[0].split("<tr>")[2:]


def element(body: str, element_id: str) -> str:
    return body.split(f'id="{element_id}"')[1].split("</dd>")[0]


def test_course_page_shows_sessions_as_n_of_planned_with_change_and_responder(clinician_client, course_with_sessions):
    page = course_page(clinician_client, course_with_sessions)
    body = page.content.decode()
    assert "3 of 6" in body
    progress = page.context["progress"]
    assert (progress.baseline, progress.latest) == (8, 4)
    assert str(progress.change) == "50% better"  # (8 - 4) / 8
    assert progress.responder == "substantial"
    assert "50% better" in element(body, "change-percent") and "≥ 50% better" in element(body, "responder")
    assert "<svg" in body and "S3" in body


def test_a_draft_with_pain_0_does_not_make_the_course_a_responder(clinician_client, clinician):
    course = course_with_baseline(clinician, 8)
    signed(SessionFactory(course=course, number=1, pre_nrs=7, post_nrs=5, sites=1), clinician)
    SessionFactory(course=course, number=2, pre_nrs=0, post_nrs=0, sites=1)  # unsigned: shown, never counted
    page = course_page(clinician_client, course)
    body, progress = page.content.decode(), page.context["progress"]

    assert progress.latest == 7  # the signed note's score before injection, not the draft's 0
    assert progress.responder == "none"  # (8 - 7) / 8 = 12.5%, short of 30%
    assert str(progress.change) == "13% better"
    assert "≥ 50% better" not in body and "not yet" in element(body, "responder")
    assert progress.drafts_not_counted == 1
    assert "1 draft session is not counted until it is signed." in body
    chart = body.split('id="pain-chart"')[1].split("</svg>")[0]
    assert ">S1<" in chart and "S2" not in chart  # no point, label or tooltip for the draft
    first, second = session_rows(body)
    assert "Signed" in first and "2 of 6" in second and "Draft" in second  # listed, marked as a draft


def test_a_course_whose_notes_are_all_drafts_has_no_outcome_yet(clinician_client, clinician):
    course = course_with_baseline(clinician, 8)
    SessionFactory(course=course, number=1, pre_nrs=2, post_nrs=0, sites=1)
    page = course_page(clinician_client, course)
    progress, body = page.context["progress"], page.content.decode()
    assert (progress.latest, progress.change, progress.responder) == (None, None, "unknown")
    assert element(body, "change-percent") == ">—"
    assert "—" in element(body, "responder") and "badge" not in element(body, "responder")


def test_pain_that_went_up_is_called_worse_in_colour_and_words(clinician_client, clinician):
    course = course_with_baseline(clinician, 4)
    signed(SessionFactory(course=course, number=1, pre_nrs=5, post_nrs=6, sites=1), clinician)
    body = course_page(clinician_client, course).content.decode()

    change = element(body, "change-percent")  # latest 5 against baseline 4: (5 - 4) / 4
    assert "25% worse" in change and 'data-direction="worse"' in change and "text-danger-emphasis" in change
    (row,) = session_rows(body)  # 5 before, 6 after: (6 - 5) / 5
    assert "20% worse" in row and 'data-direction="worse"' in row
    assert "relief" not in row and "-20%" not in row and "\N{MINUS SIGN}" not in row


def test_front_desk_sees_that_sessions_happened_but_not_their_content(front_desk_client, course_with_sessions):
    patient_page = front_desk_client.get(reverse("patients:detail", args=[course_with_sessions.patient.pk]))
    body = patient_page.content.decode()
    assert "Session 3 of 6" in body
    assert reverse("treatments:session", args=[course_with_sessions.sessions.first().pk]) not in body
    course_page = front_desk_client.get(reverse("treatments:course", args=[course_with_sessions.pk]))
    course_body = course_page.content.decode()
    assert course_page.status_code == 200
    assert "3 of 6" in course_body
    assert "Pain before" not in course_body and "<svg" not in course_body
    assert "secret clinical note" not in body + course_body
    session_url = reverse("treatments:session", args=[course_with_sessions.sessions.first().pk])
    assert front_desk_client.get(session_url).status_code == 403


def test_discontinuing_a_course_needs_a_reason(clinician_client, course_with_sessions):
    url = reverse("treatments:course_close", args=[course_with_sessions.pk])
    today = timezone.localdate().isoformat()
    refused = clinician_client.post(url, {"status": "discontinued", "stop_reason": "", "closed_on": today})
    assert refused.status_code == 400
    assert "Choose why the course was discontinued." in refused.content.decode()
    other = clinician_client.post(url, {"status": "discontinued", "stop_reason": "other", "closed_on": today})
    assert "Say what the other reason was." in other.content.decode()
    course_with_sessions.refresh_from_db()
    assert course_with_sessions.status == CourseStatus.ACTIVE
    clinician_client.post(
        url, {"status": "discontinued", "stop_reason": "other", "details": "Moved away", "closed_on": today}
    )
    course_with_sessions.refresh_from_db()
    assert (course_with_sessions.status, course_with_sessions.stop_reason) == ("discontinued", "other")
    assert course_with_sessions.discontinued_reason == "Moved away"


def test_no_new_sessions_on_a_closed_course(clinician_client, course_with_sessions):
    services.course_close(course=course_with_sessions, status=CourseStatus.COMPLETED)
    response = clinician_client.get(reverse("treatments:session_new", args=[course_with_sessions.pk]))
    assert response.status_code == 302
    assert response.url == reverse("treatments:course", args=[course_with_sessions.pk])


def test_clinician_home_lists_today_stale_drafts_and_courses_due_for_review(clinician_client, clinician):
    today = SessionFactory(course=CourseFactory(created_by=clinician), clinician=clinician, performed_at=timezone.now())
    stale = SessionFactory(course=CourseFactory(created_by=clinician), clinician=clinician)
    type(stale).objects.filter(pk=stale.pk).update(created_at=timezone.now() - timedelta(hours=30))
    due = CourseFactory(created_by=clinician)
    AssessmentFactory(patient=due.patient, course=due, assessed_at=timezone.now() - timedelta(days=40))
    for number in range(1, 4):
        signed_session(course=due, number=number, performed_at=timezone.now() - timedelta(days=30 - 7 * number))
    not_due = CourseFactory(created_by=clinician)
    SessionFactory(course=not_due, number=1)

    context = clinician_client.get(reverse("home")).context
    assert today in context["sessions_today"] and stale not in context["sessions_today"]
    assert stale in context["stale_drafts"] and today not in context["stale_drafts"]
    assert due in context["due_for_review"] and not_due not in context["due_for_review"]


def test_only_signed_sessions_count_towards_a_review(clinician):
    course = CourseFactory(created_by=clinician)
    AssessmentFactory(patient=course.patient, course=course, assessed_at=timezone.now() - timedelta(days=40))
    sessions = [
        SessionFactory(course=course, number=n, performed_at=timezone.now() - timedelta(days=30 - 7 * n), sites=1)
        for n in range(1, 4)
    ]
    for session in sessions[:2]:
        signed(session, clinician)
    SessionFactory(course=course, number=4, sites=1)  # a second draft: still two signed sessions
    assert course not in courses_due_for_review()
    signed(sessions[2], clinician)
    (due,) = courses_due_for_review()
    assert (due, due.sessions_since_review) == (course, 3)


def test_sign_and_book_next_goes_on_to_booking_the_follow_up(clinician_client, clinician):
    session = SessionFactory(sites=1, clinician=clinician)
    response = clinician_client.post(reverse("treatments:session_sign", args=[session.pk]), {"then": "book_next"})
    assert response.url == f"{reverse('scheduling:book_next')}?session={session.pk}"
    session.refresh_from_db()
    assert session.is_signed


def test_each_session_shows_the_volume_its_sites_add_up_to(clinician_client, course_with_sessions):
    course = course_with_sessions
    SessionFactory(course=course, number=4, pre_nrs=None, post_nrs=None)  # no sites yet
    body = clinician_client.get(reverse("treatments:course", args=[course.pk])).content.decode()
    rows = body.split('<table class="table mb-0 align-middle" id="sessions">')[1].split("</table>")[0].split("<tr>")[2:]
    shown = [re.search(r"([\d.]+) mL", row).group(1) for row in rows]
    expected = [f"{session.total_volume_ml:.2f}" for session in course.sessions.order_by("number")]
    assert shown == expected
    assert expected[-1] == "0.00" and all(Decimal(volume) > 0 for volume in expected[:-1])


def test_the_analgesic_doses_of_each_assessment_are_added_up(clinician_client, course_with_sessions):
    course = course_with_sessions
    later = AssessmentFactory(patient=course.patient, course=course, assessed_at=timezone.now() - timedelta(days=1))
    none_taken = AssessmentFactory(patient=course.patient, course=course, assessed_at=timezone.now())
    for assessment, doses in ((course.baseline_assessment, ["14", "7.5"]), (later, ["3"])):
        for number, per_week in enumerate(doses):
            AnalgesicUse.objects.create(
                assessment=assessment, drug=f"Drug {number}", dose="1 tablet", doses_per_week=Decimal(per_week)
            )
    read = {a.pk: a.analgesic_doses_per_week for a in with_analgesic_doses(Assessment.objects.filter(course=course))}
    assert read == {course.baseline_assessment.pk: Decimal("21.5"), later.pk: Decimal("3"), none_taken.pk: 0}
    page = clinician_client.get(reverse("treatments:course", args=[course.pk]))
    assert page.context["progress"].analgesic_chart is not None


def test_a_new_course_starts_today_unless_changed(clinician_client, clinician):
    patient = CourseFactory(created_by=clinician).patient
    page = clinician_client.get(reverse("treatments:course_new", args=[patient.pk]))
    assert page.context["form"]["started_on"].value() == timezone.localdate()
    assert f'value="{timezone.localdate().isoformat()}"' in page.content.decode()
