"""Queries per request for every key page, in one place: at most QUERY_BUDGET, and the same with a little data
as with more (so nothing is read once per row). Each count includes what every signed-in request costs: the
session, the user, the second-factor device, the roles and permissions, and the audit row of a record view.

The same pages, at 10,000 patients and under load, are measured by bench/load_bench.py (docs/performance.md).
"""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import Role
from assessments.models import Nerve, PainArea
from outcomes.models import Moment
from patients.models import ConsentGiven, Medication
from patients.services import consent_withdraw
from portal.models import PatientInvite
from tests.factories import (
    AssessmentFactory,
    CourseFactory,
    PatientFactory,
    SessionFactory,
    UserFactory,
    consent_for,
    signed_session,
)
from tests.portal.helpers import make_appointment, make_document
from tests.scheduling.factories import AppointmentFactory, appointment_type, at, every_day, local_input, tomorrow
from tests.treatments.reported_rows import check_in, measure_request, patient_report
from treatments.models import AdverseEvent

QUERY_BUDGET = 12
# The course page: 8 queries, plus the course's measure requests read with the patient's answers (one query, a
# join) and its pre-visit check-ins (one), however many of each: 10 for a clinician.
COURSE_PAGE_QUERIES = 10
pytestmark = pytest.mark.usefixtures("warm_worker")


def _queries(client, method: str, url: str, data: dict | None = None, *, status: int = 200) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = getattr(client, method)(url, data or {})
    assert response.status_code == status, response.content[:500]
    return len(captured)


def _assert_fixed(few: int, many: int) -> None:
    assert few == many, f"{few} queries with little data, {many} with more: something is read once per row"
    assert many <= QUERY_BUDGET


# --- Patient search ----------------------------------------------------------------------------------------------


def test_patient_search(front_desk_client):
    PatientFactory.create_batch(2, family_name="Whitaker")
    url = f"{reverse('patients:list')}?q=Whitakr"
    few = _queries(front_desk_client, "get", url)
    PatientFactory.create_batch(30, family_name="Whitaker")
    _assert_fixed(few, _queries(front_desk_client, "get", url))


# --- The clinical record -----------------------------------------------------------------------------------------


def _add_history(patient, clinician, rounds: int) -> None:
    """Courses with sessions and their sites, assessments with pain areas, appointments, medications,
    invitations: everything the patient page lists."""
    for _ in range(rounds):
        course = CourseFactory(patient=patient, created_by=clinician)
        for number in (1, 2):
            SessionFactory(course=course, number=number, clinician=clinician, sites=2)
        assessment = AssessmentFactory(patient=patient, clinician=clinician, course=course)
        PainArea.objects.create(assessment=assessment, region="lumbar", intensity=6, tender=True)
        make_appointment(patient, timezone.now() + timedelta(days=3 + course.pk), clinician=clinician)
        Medication.objects.create(intake=patient.intake, drug="Paracetamol", dose="1 g", doses_per_week=14)
        PatientInvite.objects.create(
            patient=patient, email="dana@example.org", token_sha256=f"{course.pk:064d}",
            expires_at=timezone.now() + timedelta(days=7), created_by=clinician,
        )  # fmt: skip


def test_patient_page(clinician_client, clinician, other_patient):
    consent_for(other_patient)
    url = reverse("patients:detail", args=[other_patient.pk])
    _add_history(other_patient, clinician, 1)
    few = _queries(clinician_client, "get", url)
    _add_history(other_patient, clinician, 3)
    _assert_fixed(few, _queries(clinician_client, "get", url))


def _reported(course, days_after: list[int]) -> None:
    """Requests after the course (each answered), one unanswered, and a check-in per request."""
    for days in days_after:
        request = measure_request(course, Moment.AFTER_COURSE, days_after_course=days)
        patient_report(request, nrs_now=4, nrs_average=5, peg_enjoyment=4, peg_activity=3, pgic=2)
        check_in(course, submitted_at=timezone.now() - timedelta(days=days % 20 + 1), nrs_now=5)
    measure_request(course, Moment.AFTER_COURSE, days_after_course=max(days_after) + 1)


def test_course_page(clinician_client, clinician):
    course = CourseFactory(created_by=clinician, planned_sessions=20)
    url = reverse("treatments:course", args=[course.pk])
    SessionFactory(course=course, number=1, sites=2)
    AssessmentFactory(patient=course.patient, course=course)
    _reported(course, [30])
    few = _queries(clinician_client, "get", url)
    for number in range(2, 10):
        SessionFactory(course=course, number=number, sites=4)
        AssessmentFactory(patient=course.patient, course=course)
    _reported(course, [60, 91, 120, 182, 270, 365])
    many = _queries(clinician_client, "get", url)
    _assert_fixed(few, many)
    assert many == COURSE_PAGE_QUERIES


def _session_form(nerves: list[Nerve]) -> dict:
    now = timezone.localtime()
    data = {
        "performed_at": (now - timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M"),
        "consent_confirmed": "on", "pre_nrs": "6", "post_nrs": "2", "dextrose_percent": "5", "diluent": "water",
        "additive": "none", "additive_percent": "", "lot_number": "DX-1",
        "lot_expiry": (now.date() + timedelta(days=200)).isoformat(), "technique": "subcutaneous",
        "needle_gauge": "27G", "aftercare_given": "on", "next_interval_days": "7", "notes": "",
        "alert_override_reason": "", "sites-TOTAL_FORMS": str(len(nerves)), "sites-INITIAL_FORMS": "0",
        "sites-MIN_NUM_FORMS": "0", "sites-MAX_NUM_FORMS": "30", "events-TOTAL_FORMS": "0",
        "events-INITIAL_FORMS": "0", "events-MIN_NUM_FORMS": "0", "events-MAX_NUM_FORMS": "10",
    }  # fmt: skip
    for row, nerve in enumerate(nerves):
        data |= {f"sites-{row}-nerve": str(nerve.pk), f"sites-{row}-side": "left", f"sites-{row}-points": "4",
                 f"sites-{row}-volume_per_point_ml": "0.5"}  # fmt: skip
    return data


def test_session_save(clinician_client, clinician):
    course = CourseFactory(created_by=clinician, planned_sessions=20)
    consent_for(course.patient)
    url = reverse("treatments:session_new", args=[course.pk])
    nerves = list(Nerve.objects.filter(active=True).order_by("pk"))
    few = _queries(clinician_client, "post", url, _session_form(nerves[:1]), status=302)
    for number in range(2, 8):
        SessionFactory(course=course, number=number, sites=3)
    _assert_fixed(few, _queries(clinician_client, "post", url, _session_form(nerves[:6]), status=302))


def test_session_form(clinician_client, clinician):
    """The form shows the dextrose given in the course and the last 30 days: one query however many notes."""
    course = CourseFactory(created_by=clinician, planned_sessions=20)
    consent_for(course.patient)
    url = reverse("treatments:session_new", args=[course.pk])
    signed_session(course=course, number=1)
    few = _queries(clinician_client, "get", url)
    for number in range(2, 8):
        signed_session(course=course, number=number, sites=3)
    signed_session(course=CourseFactory(patient=course.patient), number=1, sites=3)
    _assert_fixed(few, _queries(clinician_client, "get", url))


def test_session_page(clinician_client, clinician):
    course = CourseFactory(created_by=clinician, planned_sessions=20)
    url = reverse("treatments:session", args=[signed_session(course=course, number=1).pk])
    few = _queries(clinician_client, "get", url)
    for number in range(2, 8):
        signed_session(course=course, number=number, sites=3)
    _assert_fixed(few, _queries(clinician_client, "get", url))


def _draft(clinician, sites: int):
    draft = SessionFactory(course=CourseFactory(created_by=clinician), number=1, clinician=clinician, sites=sites)
    for _ in range(sites):
        AdverseEvent.objects.create(session=draft, kind="bruising", severity="mild")
    return draft


def test_session_sign(clinician_client, clinician):
    few = _queries(clinician_client, "post", reverse("treatments:session_sign", args=[_draft(clinician, 1).pk]),
                   status=302)  # fmt: skip
    many = _queries(clinician_client, "post", reverse("treatments:session_sign", args=[_draft(clinician, 6).pk]),
                    status=302)  # fmt: skip
    _assert_fixed(few, many)


# --- The diary ---------------------------------------------------------------------------------------------------


def _clinicians(count: int) -> list:
    staff = [UserFactory(role=Role.CLINICIAN) for _ in range(count)]
    for clinician in staff:
        every_day(clinician)
    return staff


def _fill(clinicians: list, days: list, per_day: int) -> None:
    """Appointments back to back from 09:00, for every clinician on every day, one of them cancelled."""
    for clinician in clinicians:
        for day in days:
            for slot in range(per_day):
                status = "cancelled" if slot == 0 else "booked"
                AppointmentFactory(clinician=clinician, starts_at=at(day, 9, 0) + timedelta(minutes=20 * slot),
                                   status=status)  # fmt: skip


@pytest.mark.parametrize("view", ["scheduling:day", "scheduling:week"])
def test_calendar(front_desk_client, view):
    day = tomorrow()
    week = [day + timedelta(days=offset) for offset in range(-day.weekday(), 7 - day.weekday())]
    url = f"{reverse(view)}?date={day.isoformat()}"
    staff = _clinicians(2)
    _fill(staff, week, 2)
    few = _queries(front_desk_client, "get", url)
    _fill(_clinicians(2), week, 2)
    for clinician in staff:
        for day_of_week in week:
            for slot in range(3, 10):
                AppointmentFactory(clinician=clinician, starts_at=at(day_of_week, 9, 0) + timedelta(minutes=20 * slot))
    _assert_fixed(few, _queries(front_desk_client, "get", url))


def test_booking(front_desk_client):
    clinician = _clinicians(1)[0]
    patient = PatientFactory()
    day = tomorrow()

    def book(hour: int) -> int:
        data = {"patient": str(patient.pk), "clinician": str(clinician.pk), "appointment_type":
                str(appointment_type("pit-session").pk), "starts_at": local_input(at(day, hour)), "notes": "",
                "course": ""}  # fmt: skip
        return _queries(front_desk_client, "post", reverse("scheduling:book"), data, status=302)

    few = book(8)
    _fill([clinician], [day - timedelta(days=1), day], 4)
    for days_ahead in range(3, 9):
        AppointmentFactory(patient=patient, clinician=clinician, starts_at=at(day + timedelta(days=days_ahead), 11))
    _assert_fixed(few, book(15))


# --- The patient portal ------------------------------------------------------------------------------------------


def test_portal_documents(patient_client, patient):
    url = reverse("portal:documents")
    make_document(patient)
    few = _queries(patient_client, "get", url)
    for _ in range(5):
        make_document(patient)
    _assert_fixed(few, _queries(patient_client, "get", url))


def test_portal_consent(patient_client, patient):
    """The consent page reads the patient's newest consent to the current text, however many came before."""
    url = reverse("portal:consent")
    consent_for(patient)
    few = _queries(patient_client, "get", url)
    for _ in range(5):
        consent_withdraw(patient=patient, via=ConsentGiven.PORTAL)
        consent_for(patient)
    _assert_fixed(few, _queries(patient_client, "get", url))


# --- The outcomes report -----------------------------------------------------------------------------------------


def _treated_courses(count: int, clinicians: list) -> None:
    """Closed courses with signed sessions on several nerves, reviews, drafts, adverse events and the patients'
    answers before sessions, at the end and after: everything the report reads, under several conditions,
    clinicians and nerves."""
    from outcomes.models import Moment
    from tests.outcomes.builders import ask, close, course, nerve, review, session

    for index in range(count):
        clinician = clinicians[index % len(clinicians)]
        treated = course(condition=("low-back-pain", "osteoarthritis")[index % 2], clinician=clinician, started=100)
        session(treated, 1, 7, days=90, nerves=[nerve(index % 3), nerve(3)], adverse_event=True)
        session(treated, 2, 5, days=80, nerves=[nerve(4)])
        session(treated, 3, 0, days=75, signed=False)
        review(treated, 4, days=70, pgic=3)
        close(treated, final_pgic=2)
        ask(treated, Moment.BEFORE_SESSION, days=82, nrs=6)
        ask(treated, Moment.COURSE_END, days=65, nrs=4, peg=(4, 3, 3), pgic=2)
        ask(treated, Moment.AFTER_COURSE, days=5, after_course=91, nrs=3)


@pytest.mark.parametrize("name", ["outcomes:report", "outcomes:report_export"])
def test_outcomes_report(manager_client, name):
    clinicians = [UserFactory(role=Role.CLINICIAN) for _ in range(3)]
    url = reverse(name)
    _treated_courses(1, clinicians)
    few = _queries(manager_client, "get", url)
    _treated_courses(8, clinicians)
    _assert_fixed(few, _queries(manager_client, "get", url))
