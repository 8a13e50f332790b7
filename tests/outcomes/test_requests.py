"""What the clinic asks and when: requests made by closing a course and by appointments coming up, emailed once,
reminded once, and cancelled when what they were for changes."""

from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from outcomes import services
from outcomes.models import MeasureRequest, MeasureSchedule, Moment
from outcomes.tasks import send_due_measure_requests
from pit_portal.outbox.models import EmailKind, OutboxEmail
from tests.factories import CourseFactory, PatientFactory, consent_for
from tests.outbox.helpers import owed, record_sends
from tests.outcomes.helpers import appointment_in_course, closed_course, emailed_link_path, end_request
from treatments import services as treatment_services
from treatments.models import CourseStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def sends(monkeypatch) -> list[int]:
    return record_sends(monkeypatch)


def live(course) -> list[tuple[str, int | None]]:
    rows = MeasureRequest.objects.filter(course=course, cancelled_at__isnull=True).order_by("due_at", "pk")
    return list(rows.values_list("moment", "days_after_course"))


def test_closing_a_course_owes_the_end_of_course_and_follow_up_questions_in_its_transaction():
    course = closed_course()
    assert live(course) == [(Moment.COURSE_END, None), (Moment.AFTER_COURSE, 91), (Moment.AFTER_COURSE, 182)]
    end = end_request(course)
    assert (end.ask_nrs, end.ask_peg, end.ask_pgic, end.ask_further_treatment) == (True, True, True, False)
    three_months = MeasureRequest.objects.get(course=course, days_after_course=91)
    assert timezone.localtime(three_months.due_at).date() == course.closed_on + timedelta(days=91)
    assert three_months.ask_further_treatment


def test_a_failed_close_owes_nothing():
    course = CourseFactory()
    with pytest.raises(Exception, match="already closed"):
        treatment_services.course_close(course=course, status=CourseStatus.COMPLETED)
        treatment_services.course_close(course=course, status=CourseStatus.COMPLETED)
    assert MeasureRequest.objects.filter(course=course).count() == 3  # the first close's, not six


def test_the_clinics_schedule_decides_what_is_asked():
    MeasureSchedule.objects.filter(moment=Moment.AFTER_COURSE, days_after_course=182).update(active=False)
    MeasureSchedule.objects.filter(moment=Moment.COURSE_END).update(ask_peg=False)
    course = closed_course()
    assert live(course) == [(Moment.COURSE_END, None), (Moment.AFTER_COURSE, 91)]
    assert not end_request(course).ask_peg


def test_reopening_cancels_the_unanswered_follow_ups_and_closing_again_owes_new_ones():
    course = closed_course()
    first = set(MeasureRequest.objects.filter(course=course).values_list("pk", flat=True))
    treatment_services.course_reopen(course=course)
    assert live(course) == []
    reasons = set(MeasureRequest.objects.filter(pk__in=first).values_list("cancel_reason", flat=True))
    assert reasons == {"The course was reopened."}
    treatment_services.course_close(course=course, status=CourseStatus.COMPLETED)
    assert len(live(course)) == 3 and not first & set(
        MeasureRequest.objects.filter(course=course, cancelled_at__isnull=True).values_list("pk", flat=True)
    )


def test_beat_run_twice_owes_each_email_once(sends):
    course = closed_course()
    with_appointment = CourseFactory(patient=PatientFactory(email="ann@example.org"))
    appointment = appointment_in_course(with_appointment)
    assert send_due_measure_requests() == {"made": 1, "emails": 2, "reminders": 0}
    assert send_due_measure_requests() == {"made": 0, "emails": 2, "reminders": 0}  # owed already: no new rows
    before = MeasureRequest.objects.get(course=with_appointment)
    assert before.moment == Moment.BEFORE_SESSION and before.expires_at == appointment.starts_at
    kinds = sorted(OutboxEmail.objects.values_list("kind", "object_id"))
    assert kinds == sorted(
        [(EmailKind.MEASURE_REQUEST, end_request(course).pk), (EmailKind.MEASURE_REQUEST, before.pk)]
    )


def test_an_appointment_too_far_ahead_or_of_a_closed_course_is_not_asked_about_yet():
    far = CourseFactory()
    appointment = appointment_in_course(far, days=5)
    assert services.before_session_requests_make() == 0
    appointment.starts_at = timezone.now() + timedelta(days=1)
    appointment.ends_at = appointment.starts_at + timedelta(minutes=20)
    appointment.save()
    type(far).objects.filter(pk=far.pk).update(status=CourseStatus.COMPLETED, closed_on=far.started_on)
    assert services.before_session_requests_make() == 0


def test_the_email_carries_the_link_and_nothing_clinical_and_goes_once():
    course = closed_course()
    request = end_request(course)
    assert services.request_send(request.pk)
    assert not services.request_send(request.pk)  # a message delivered twice
    [email] = mail.outbox
    assert email.to == ["ruth@example.org"]
    assert "/measures/" in email.body
    assert course.condition.name not in email.body + email.subject
    request.refresh_from_db()
    assert request.sent_at is not None


def test_one_reminder_three_days_after_the_first_email_if_unanswered(sends, django_capture_on_commit_callbacks):
    request = end_request(closed_course())
    services.request_send(request.pk)
    assert services.due_requests_owe() == (0, 0)
    MeasureRequest.objects.filter(pk=request.pk).update(sent_at=timezone.now() - timedelta(days=3, minutes=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert services.due_requests_owe() == (0, 1)
    assert services.reminder_send(request.pk)
    assert not services.reminder_send(request.pk)
    assert services.due_requests_owe() == (0, 0)
    assert owed(sends) == [(EmailKind.MEASURE_REMINDER, request.pk)]
    assert mail.outbox[-1].subject.startswith("Reminder:")


def test_a_patient_without_email_is_not_sent_and_staff_see_why():
    course = closed_course(PatientFactory(email=""))
    request = end_request(course)
    assert not services.request_send(request.pk)
    request.refresh_from_db()
    assert (request.sent_at, request.not_sent_reason) == (None, "No email address on file.")
    assert services.due_requests_owe() == (0, 0)  # not owed again every quarter hour
    assert mail.outbox == []


def test_withdrawn_consent_cancels_the_request_when_it_is_sent():
    patient = PatientFactory(email="ruth@example.org")
    course = closed_course(patient)
    consent_for(patient).__class__.objects.filter(patient=patient).update(
        withdrawn_at=timezone.now(), withdrawn_via="desk"
    )
    request = end_request(course)
    assert not services.request_send(request.pk)
    request.refresh_from_db()
    assert request.cancelled_at is not None and request.cancel_reason == "This form is no longer needed."
    assert mail.outbox == []


def test_a_cancelled_appointment_cancels_its_pre_session_questions():
    course = CourseFactory(patient=PatientFactory(email="ann@example.org"))
    appointment = appointment_in_course(course)
    services.before_session_requests_make()
    appointment.status, appointment.cancel_reason = "cancelled", "Patient has flu"
    appointment.save()
    request = MeasureRequest.objects.get(course=course)
    assert not services.request_send(request.pk)
    request.refresh_from_db()
    assert "appointment it was for has changed" in request.cancel_reason


def test_a_manager_sets_what_is_asked_and_the_database_refuses_a_schedule_that_makes_no_sense(manager_client):
    schedule = MeasureSchedule.objects.get(moment=Moment.AFTER_COURSE, days_after_course=91)
    url = reverse("admin:outcomes_measureschedule_change", args=[schedule.pk])
    fields = {"moment": "after_course", "days_after_course": "120", "ask_nrs": "on", "active": "on"}
    assert manager_client.post(url, fields).status_code == 302
    schedule.refresh_from_db()
    assert (schedule.days_after_course, schedule.ask_peg, schedule.ask_pgic) == (120, False, False)
    refused = manager_client.post(url, {**fields, "days_after_course": ""})
    assert refused.status_code == 200 and "errornote" in refused.content.decode()
    nothing = manager_client.post(url, {"moment": "after_course", "days_after_course": "120", "active": "on"})
    assert "errornote" in nothing.content.decode()
    schedule.refresh_from_db()
    assert schedule.days_after_course == 120 and schedule.ask_nrs


def test_discontinuing_a_course_cancels_its_pre_session_questions_and_their_link(client):
    course = CourseFactory(patient=PatientFactory(email="ann@example.org"))
    appointment_in_course(course)
    services.before_session_requests_make()
    request = MeasureRequest.objects.get(course=course)
    path = emailed_link_path(request)
    treatment_services.course_close(course=course, status=CourseStatus.DISCONTINUED, stop_reason="patient_choice")
    request.refresh_from_db()
    assert request.cancel_reason == "The course was closed."
    page = client.get(path)
    assert page.status_code == 410 and "no longer needed" in page.content.decode()
