"""Patients answer through the emailed link (one form, nothing else, once) or in the portal; what they answer is
kept as they gave it."""

from datetime import timedelta

import pytest
from django.db import DatabaseError, transaction
from django.urls import reverse
from django.utils import timezone

from audit.models import Action, AuditEvent
from outcomes import services
from outcomes.models import EnteredVia, MeasureRequest, PatientReport
from portal.models import CheckIn
from safety.models import DelayedReaction, ReportedVia, follow_up_of
from tests.factories import CourseFactory, PatientFactory, consent_for
from tests.outcomes.helpers import appointment_in_course, closed_course, emailed_link_path, end_request
from treatments import services as treatment_services

pytestmark = pytest.mark.django_db

END_ANSWERS = {
    "nrs_now": "2", "nrs_average": "3", "peg_enjoyment": "4", "peg_activity": "5", "pgic": "2", "had_reaction": "False",
}  # fmt: skip
REACTION = {
    "had_reaction": "True", "reaction_kind": "bruising", "reaction_severity": "moderate",
    "reaction_description": "A dark bruise on the knee two days later, still sore.",
}  # fmt: skip


@pytest.fixture
def course():
    return closed_course(PatientFactory(given_name="Ruth", family_name="Okafor", email="ruth@example.org"))


def test_the_link_opens_that_one_form_and_nothing_else(client, course):
    path = emailed_link_path(end_request(course))
    page = client.get(path)
    body = page.content.decode()
    assert page.status_code == 200
    assert 'name="nrs_now"' in body and 'name="pgic"' in body and 'name="further_treatment"' not in body
    for private in ("Ruth", "Okafor", course.patient.clinic_number, course.condition.name, "ruth@example.org"):
        assert private not in body
    assert 'href="/portal/' not in body and 'href="/patients/' not in body
    opened = AuditEvent.objects.get(action=Action.MEASURES_LINK_OPENED)
    assert (opened.patient_id, opened.actor_id) == (course.patient_id, None)


def test_answers_through_the_link_are_kept_as_given_and_the_link_then_refused(client, course):
    path = emailed_link_path(end_request(course))
    done = client.post(path, END_ANSWERS)
    assert done.status_code == 200 and "Your answers are in your record" in done.content.decode()
    report = PatientReport.objects.get()
    assert (report.nrs_now, report.nrs_average, report.peg_enjoyment, report.peg_activity, report.pgic) == (
        2, 3, 4, 5, 2,
    )  # fmt: skip
    assert (report.entered_via, report.entered_by, report.course_id) == (EnteredVia.LINK, None, course.pk)
    assert report.peg_score == 4  # (3 + 4 + 5) / 3
    assert AuditEvent.objects.filter(action=Action.MEASURES_ANSWERED, patient_id=course.patient_id).count() == 1
    again = client.post(path, {**END_ANSWERS, "nrs_now": "9"})
    assert again.status_code == 410 and "already been answered" in again.content.decode()
    assert client.get(path).status_code == 410
    assert list(PatientReport.objects.values_list("nrs_now", flat=True)) == [2]


@pytest.mark.parametrize(
    ("field", "value"), [("nrs_now", "11"), ("nrs_now", "-1"), ("nrs_average", "ten"), ("pgic", "8"), ("pgic", "")]
)
def test_an_answer_out_of_range_is_refused_with_a_message_and_nothing_is_kept(client, course, field, value):
    path = emailed_link_path(end_request(course))
    refused = client.post(path, {**END_ANSWERS, field: value})
    assert refused.status_code == 400
    assert "need another look" in refused.content.decode()
    assert PatientReport.objects.count() == 0
    assert end_request(course).answered_at is None


def test_a_tampered_or_foreign_token_is_not_recognised(client, course):
    path = emailed_link_path(end_request(course))
    assert client.get(path[:-3] + "xx/").status_code == 404
    assert client.get("/measures/not-a-token/").status_code == 404
    request = end_request(course)
    MeasureRequest.objects.filter(pk=request.pk).update(link_nonce="0" * 32)  # the row no longer matches the link
    assert client.get(path).status_code == 404


def test_an_expired_link_says_so(client, course):
    request = end_request(course)
    path = emailed_link_path(request)
    MeasureRequest.objects.filter(pk=request.pk).update(
        due_at=timezone.now() - timedelta(days=30), expires_at=timezone.now() - timedelta(days=1)
    )
    page = client.get(path)
    assert page.status_code == 410 and "This link has expired." in page.content.decode()


def test_a_link_of_a_course_reopened_since_is_refused_and_saves_nothing(client, course):
    path = emailed_link_path(end_request(course))
    treatment_services.course_reopen(course=course)
    refused = client.post(path, END_ANSWERS)
    assert refused.status_code == 410 and "no longer needed" in refused.content.decode()
    assert PatientReport.objects.count() == 0


def test_a_link_after_consent_was_withdrawn_is_refused(client, course):
    path = emailed_link_path(end_request(course))
    consent = consent_for(course.patient)
    type(consent).objects.filter(pk=consent.pk).update(withdrawn_at=timezone.now(), withdrawn_via="desk")
    refused = client.post(path, END_ANSWERS)
    assert refused.status_code == 410 and PatientReport.objects.count() == 0


def test_signed_in_staff_cannot_answer_as_the_patient(clinician_client, course):
    path = emailed_link_path(end_request(course))
    assert clinician_client.post(path, END_ANSWERS).status_code == 403
    assert PatientReport.objects.count() == 0


def test_a_report_is_never_changed_or_deleted_by_anyone(client, course):
    client.post(emailed_link_path(end_request(course)), END_ANSWERS)
    for change in (lambda rows: rows.update(nrs_now=9), lambda rows: rows.delete()):
        with pytest.raises(DatabaseError), transaction.atomic():
            change(PatientReport.objects.all())
    assert PatientReport.objects.get().nrs_now == 2


def test_a_portal_patient_answers_in_the_portal_and_not_another_patients_questions(patient, client):
    course = closed_course(patient)
    request = end_request(course)
    other = end_request(closed_course())
    client.force_login(patient.user)
    home = client.get(reverse("portal:home")).content.decode()
    assert reverse("portal:measures", args=[request.pk]) in home
    assert client.get(reverse("portal:measures", args=[other.pk])).status_code == 404
    assert client.post(reverse("portal:measures", args=[other.pk]), END_ANSWERS).status_code == 404
    done = client.post(reverse("portal:measures", args=[request.pk]), END_ANSWERS)
    assert done.status_code == 302
    report = PatientReport.objects.get()
    assert (report.request_id, report.entered_via, report.entered_by) == (request.pk, EnteredVia.PORTAL, patient.user)
    assert reverse("portal:measures", args=[request.pk]) not in client.get(reverse("portal:home")).content.decode()
    assert client.get(reverse("portal:measures", args=[request.pk])).status_code == 410


def test_a_portal_patients_email_points_to_the_portal_not_a_link(patient):
    type(patient).objects.filter(pk=patient.pk).update(email="charlie@example.org")
    patient.refresh_from_db()
    request = end_request(closed_course(patient))
    assert services.request_send(request.pk)
    from django.core import mail

    assert reverse("portal:measures", args=[request.pk]) in mail.outbox[-1].body
    assert "/measures/" not in mail.outbox[-1].body.replace("/portal/questions/", "")


def test_the_check_in_answers_the_visits_pre_session_questions(patient, client):
    course = CourseFactory(patient=patient)
    appointment = appointment_in_course(course)
    services.before_session_requests_make()
    client.force_login(patient.user)
    answers = {"nrs_now": "6", "peg_pain": "5", "peg_enjoyment": "4", "peg_activity": "3",
               "analgesic_doses_per_week": "2", "new_infection": "False", "new_medication": "False",
               "new_blood_thinner": "False", "pregnant": "False", "new_allergy": "False"}  # fmt: skip
    assert client.post(reverse("portal:check_in", args=[appointment.pk]), answers).status_code == 302
    report = PatientReport.objects.get()
    assert (report.nrs_now, report.nrs_average, report.peg_enjoyment, report.peg_activity) == (6, 5, 4, 3)
    assert MeasureRequest.objects.get(course=course).answered_at is not None
    assert CheckIn.objects.count() == 1


def test_a_reaction_reported_on_the_form_reaches_the_clinician_as_an_open_event(client, course):
    path = emailed_link_path(end_request(course))
    assert client.post(path, {**END_ANSWERS, **REACTION}).status_code == 200
    reaction = DelayedReaction.objects.get()
    assert (reaction.patient_id, reaction.kind, reaction.severity) == (course.patient_id, "bruising", "moderate")
    assert reaction.reported_via == ReportedVia.BETWEEN_VISIT_FORM and reaction.reported_by is None
    assert reaction.session == course.sessions.get()
    assert follow_up_of(reaction) is None  # no follow-up yet: open


@pytest.mark.parametrize("missing", ["reaction_kind", "reaction_severity", "reaction_description"])
def test_a_reaction_without_its_details_is_refused_and_nothing_is_kept(client, course, missing):
    path = emailed_link_path(end_request(course))
    refused = client.post(path, {**END_ANSWERS, **REACTION, missing: ""})
    assert refused.status_code == 400
    assert PatientReport.objects.count() == 0 and DelayedReaction.objects.count() == 0


def test_before_any_signed_session_the_form_does_not_ask_about_a_reaction(client):
    course = CourseFactory(patient=PatientFactory(email="ann@example.org"))
    appointment_in_course(course)
    services.before_session_requests_make()
    path = emailed_link_path(MeasureRequest.objects.get(course=course))
    page = client.get(path).content.decode()
    assert 'name="nrs_now"' in page and 'name="had_reaction"' not in page
    assert (
        client.post(path, {"nrs_now": "5", "nrs_average": "5", "peg_enjoyment": "5", "peg_activity": "5"}).status_code
        == 200
    )


def test_a_reaction_reported_in_the_portal_names_the_patient_who_wrote_it(patient, client):
    request = end_request(closed_course(patient))
    client.force_login(patient.user)
    assert client.post(reverse("portal:measures", args=[request.pk]), {**END_ANSWERS, **REACTION}).status_code == 302
    reaction = DelayedReaction.objects.get()
    assert (reaction.reported_via, reaction.reported_by) == (ReportedVia.PORTAL, patient.user)
