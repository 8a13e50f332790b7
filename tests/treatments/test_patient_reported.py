"""The course page beside the clinic's own scores: what the patient reported (check-ins and answers between
visits), what the clinic asked, and how long each session's relief lasted."""

import re
from datetime import datetime, time, timedelta

import pytest
from django.utils import timezone

from accounts.models import Role
from outcomes.models import Moment
from tests.factories import AssessmentFactory, CourseFactory, SessionFactory, UserFactory, signed_session
from tests.portal.helpers import make_appointment
from tests.treatments.reported_rows import check_in, measure_request, patient_report
from tests.treatments.test_course_views import course_page, element, session_rows


def days_ago(days: int, hour: int = 10) -> datetime:
    """`hour` o'clock, `days` calendar days ago in the clinic's time zone."""
    return timezone.make_aware(datetime.combine(timezone.localdate() - timedelta(days=days), time(hour)))


def local_text(moment: datetime, pattern: str = "%d/%m/%Y") -> str:
    return timezone.localtime(moment).strftime(pattern)


@pytest.fixture
def course(db, clinician):
    """Baseline pain now 8 (the course's first assessment, 30 days ago)."""
    course = CourseFactory(created_by=clinician)
    course.baseline_assessment = AssessmentFactory(patient=course.patient, course=course, nrs_current=8)
    course.save()
    return course


def section(body: str, section_id: str) -> str:
    return body.split(f'id="{section_id}"')[1].split("</section>")[0]


def cells(row: str) -> list[str]:
    return [" ".join(re.sub(r"<[^>]+>", " ", cell).split()) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]


def report_rows(body: str) -> list[list[str]]:
    return [
        cells(row.split("</tr>")[0])
        for row in section(body, "reported-by-patient").split('data-role="patient-report"')[1:]
    ]


def request_states(body: str) -> dict[str, str]:
    items = [item.split("</li>")[0] for item in section(body, "measure-requests").split("data-request-state=")[1:]]
    return {item.split('"')[1]: " ".join(re.sub(r"<[^>]+>", " ", item.split(">", 1)[1]).split()) for item in items}


# --- Reported by the patient ----------------------------------------------------------------------------------


def test_a_report_is_shown_as_patient_reported_with_its_values_and_nothing_to_edit(clinician_client, course):
    patient_user = UserFactory(role=Role.PATIENT)
    end = patient_report(
        measure_request(course, Moment.COURSE_END),
        submitted_at=days_ago(20, 18),
        entered_by=patient_user,
        nrs_now=2, nrs_average=3, peg_enjoyment=2, peg_activity=2, pgic=1, further_treatment=True,
    )  # fmt: skip
    later = patient_report(
        measure_request(course, Moment.AFTER_COURSE, days_after_course=91),
        submitted_at=days_ago(2, 9),
        nrs_now=3, nrs_average=4, peg_enjoyment=5, peg_activity=6, pgic=2, further_treatment=False,
    )  # fmt: skip
    body = course_page(clinician_client, course).content.decode()

    assert report_rows(body) == [
        # PEG: (3 + 2 + 2) / 3 = 2.33, to one decimal
        [local_text(end.submitted_at, "%d/%m/%Y %H:%M"), "At the end of a course", "2", "3", "2.3",
         "Very much improved", "Yes", "Patient portal"],
        # 91 days is 3 months; PEG: (4 + 5 + 6) / 3 = 5.0
        [local_text(later.submitted_at, "%d/%m/%Y %H:%M"), "3 months after the course", "3", "4", "5.0",
         "Much improved", "No", "Emailed link"],
    ]  # fmt: skip
    reported = section(body, "reported-by-patient")
    assert "Reported by the patient" in reported and "Patient-reported" in reported
    for control in ("<form", "<button", "<input", "<select", "<textarea", "href=", "Edit"):
        assert control not in reported


def test_a_check_in_is_listed_with_the_reports(clinician_client, course):
    made = check_in(course, submitted_at=days_ago(3, 8), nrs_now=4, starts_at=days_ago(3, 11))
    body = course_page(clinician_client, course).content.decode()
    # PEG: average pain 4 (the check-in's pain item), enjoyment 5, activity 5: 14 / 3 = 4.67
    assert report_rows(body) == [
        [local_text(made.submitted_at, "%d/%m/%Y %H:%M"), f"Check-in before the session of {local_text(days_ago(3))}",
         "4", "4", "4.7", "—", "—", "Patient portal (pre-visit check-in)"],
    ]  # fmt: skip


def test_the_front_desk_sees_what_was_asked_but_not_what_the_patient_answered(front_desk_client, course):
    patient_report(measure_request(course), nrs_now=6, nrs_average=6, pgic=7)
    check_in(course, submitted_at=days_ago(3), nrs_now=9)
    body = course_page(front_desk_client, course).content.decode()
    assert request_states(body).keys() == {"answered"}
    assert 'id="reported-by-patient"' not in body and "Very much worse" not in body and "<svg" not in body


# --- What was asked -------------------------------------------------------------------------------------------


def test_each_request_says_where_it_stands(clinician_client, course):
    now = timezone.now()
    due_later = now + timedelta(days=10)
    measure_request(course, Moment.AFTER_COURSE, days_after_course=91, due_at=due_later)
    measure_request(course, Moment.AFTER_COURSE, days_after_course=182, due_at=now - timedelta(days=2),
                    sent_at=now - timedelta(days=2))  # fmt: skip
    measure_request(course, Moment.AFTER_COURSE, days_after_course=30, due_at=now - timedelta(days=5),
                    sent_at=now - timedelta(days=5), reminded_at=now - timedelta(days=1))  # fmt: skip
    patient_report(measure_request(course, Moment.COURSE_END, due_at=now - timedelta(days=3)), nrs_now=4,
                   submitted_at=now - timedelta(days=1))  # fmt: skip
    appointment = make_appointment(course.patient, days_ago(-3, 11))
    measure_request(course, Moment.BEFORE_SESSION, appointment=appointment, cancelled_at=now,
                    cancel_reason="This form is no longer needed: the appointment it was for has changed.")  # fmt: skip
    measure_request(course, Moment.AFTER_COURSE, days_after_course=365, not_sent_reason="No email address on file.")
    expired = measure_request(course, Moment.AFTER_COURSE, days_after_course=60, due_at=now - timedelta(days=30),
                              expires_at=now - timedelta(days=9), sent_at=now - timedelta(days=30))  # fmt: skip
    body = course_page(clinician_client, course).content.decode()

    day = local_text
    assert request_states(body) == {
        "waiting": f"3 months after the course Not due yet due {day(due_later)}",
        "sent": f"6 months after the course Sent on {day(now - timedelta(days=2))}",  # 182 / 30.44 = 5.98
        "reminded": f"30 days after the course Reminded on {day(now - timedelta(days=1))}",  # under two months
        "answered": f"At the end of a course Answered on {day(now - timedelta(days=1))}",
        "cancelled": f"Before the session of {day(appointment.starts_at)} Cancelled on {day(now)}: "
        "This form is no longer needed: the appointment it was for has changed.",
        "not_sent": "12 months after the course Not sent No email address on file.",  # 365 / 30.44 = 11.99
        "expired": f"2 months after the course Not answered the link expired on {day(expired.expires_at)}",
    }


def test_a_course_with_nothing_asked_says_so(clinician_client, course):
    body = course_page(clinician_client, course).content.decode()
    assert "Nothing asked yet." in section(body, "measure-requests")
    assert "Nothing reported yet." in section(body, "reported-by-patient")


# --- The chart and the course's figures -----------------------------------------------------------------------


def test_a_patient_report_is_a_point_of_its_own_on_the_chart_and_the_latest_score(clinician_client, course, clinician):
    signed_session(course=course, number=1, performed_at=days_ago(10), pre_nrs=7, post_nrs=3)
    patient_report(measure_request(course), submitted_at=days_ago(3, 19), nrs_now=3)
    page = course_page(clinician_client, course)
    body, progress = page.content.decode(), page.context["progress"]

    assert (progress.baseline, progress.latest) == (8, 3)  # the baseline stays the baseline assessment
    assert str(progress.change) == "63% better"  # (8 - 3) / 8 = 62.5%
    assert progress.responder == "substantial"
    assert "(reported by the patient)" in element(body, "latest")
    assert "from signed notes and what the patient reported" in body
    chart = body.split('id="pain-chart"')[1].split("</svg>")[0]
    patient_points = chart.split('data-series="patient"')[1].split("</g>")[0]
    assert patient_points.count("<polygon") == 1
    assert "Reported by the patient" in chart.split('data-role="legend"')[1]
    desc = chart.split("<desc")[1].split("</desc>")[0]
    assert "Pain now as reported by the patient was 3 over 1 report." in desc
    assert "Baseline pain 8; latest score 3, 63% better (response: ≥ 50% better)." in desc


def test_a_check_in_counts_until_a_later_signed_score_and_drafts_never_do(clinician_client, course, clinician):
    signed_session(course=course, number=1, performed_at=days_ago(10), pre_nrs=7, post_nrs=3)
    check_in(course, submitted_at=days_ago(4), nrs_now=5)
    other = CourseFactory(patient=course.patient, created_by=clinician)
    check_in(other, submitted_at=days_ago(3), nrs_now=0)  # another course's appointment: not this course's
    progress = course_page(clinician_client, course).context["progress"]
    assert (progress.latest, progress.responder, progress.latest_reported_by_patient) == (5, "moderate", True)
    assert str(progress.change) == "38% better"  # (8 - 5) / 8 = 37.5%

    signed_session(course=course, number=2, performed_at=days_ago(2), pre_nrs=6, post_nrs=2)
    SessionFactory(course=course, number=3, performed_at=days_ago(1), pre_nrs=0, post_nrs=0, sites=1)  # a draft
    page = course_page(clinician_client, course)
    progress = page.context["progress"]
    assert (progress.latest, progress.responder, progress.latest_reported_by_patient) == (6, "none", False)
    assert "(reported by the patient)" not in element(page.content.decode(), "latest")  # (8 - 6) / 8 = 25%


# --- How long relief lasted -----------------------------------------------------------------------------------


def test_the_sessions_table_says_how_long_relief_lasted_and_flags_it_ending_before_the_next(clinician_client, course):
    signed_session(course=course, number=1, performed_at=days_ago(20), pre_nrs=8, post_nrs=3, next_interval_days=14)
    check_in(course, submitted_at=days_ago(15), nrs_now=4)  # 5 days on: (8 - 4) / 8 = 50%, relief holds
    patient_report(measure_request(course), submitted_at=days_ago(11), nrs_now=7)  # 9 days on: 12.5%, it ended
    signed_session(course=course, number=2, performed_at=days_ago(6), pre_nrs=6, post_nrs=2)
    SessionFactory(course=course, number=3, performed_at=days_ago(1), sites=1)  # a draft
    first, second, draft = session_rows(course_page(clinician_client, course).content.decode())

    assert 'data-durability="ended"' in first and "about 9 days" in first
    assert "next planned after 14 days" in first and 'data-role="ended-before-next"' in first  # 9 < 14
    assert 'data-durability="unknown"' in second and "not known" in second and "nothing reported after it" in second
    assert "next planned after 7 days" in second  # no interval on the note: the course's, 7
    assert 'data-role="ended-before-next"' not in second
    assert 'data-durability="draft"' in draft
