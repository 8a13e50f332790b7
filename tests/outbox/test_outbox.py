"""Every email the portal owes is a row written with the change that owes it, sent once by the worker, and sent
again by the sweeper if the broker lost its message. test_worker.py runs the same through the real broker."""

from datetime import timedelta
from smtplib import SMTPServerDisconnected

import pytest
from django.core import mail
from django.db import transaction
from django.template import TemplateDoesNotExist
from django.urls import reverse
from django.utils import timezone

from pit_portal.outbox import services
from pit_portal.outbox.models import EmailKind, EmailStatus, OutboxEmail
from pit_portal.outbox.tasks import send_email
from portal import services as portal_services
from scheduling import services as scheduling_services
from tests.factories import PatientFactory
from tests.outbox.helpers import owed, record_sends
from tests.portal.helpers import make_appointment
from tests.scheduling.factories import at, every_day


@pytest.fixture
def sends(monkeypatch) -> list[int]:
    return record_sends(monkeypatch)


@pytest.fixture
def invitable(db):
    return PatientFactory(given_name="Eleanor", email="eleanor@example.org")


def test_each_change_that_owes_an_email_records_it_and_sends_its_id_after_commit(
    client, front_desk, clinician, patient, invitable, sends, django_capture_on_commit_callbacks
):
    every_day(clinician)
    appointment = make_appointment(patient, at(timezone.localdate() + timedelta(days=3), 10), clinician=clinician)
    moved_to = at(timezone.localdate() + timedelta(days=4), 11)
    patient.user.email = "charlie@example.org"
    patient.user.save()
    with django_capture_on_commit_callbacks(execute=True):
        invite = portal_services.invite_create(patient=invitable, by=front_desk)
        scheduling_services.appointment_move(appointment=appointment, starts_at=moved_to, by=front_desk)
        scheduling_services.appointment_cancel(appointment=appointment, reason="Clinic closed", by=front_desk)
        client.post(reverse("password_reset"), {"email": "charlie@example.org"})
    assert owed(sends) == [
        (EmailKind.INVITATION, invite.pk),
        (EmailKind.RESCHEDULED, appointment.pk),
        (EmailKind.CANCELLED, appointment.pk),
        (EmailKind.PASSWORD_RESET, patient.user.pk),
    ]
    assert set(OutboxEmail.objects.values_list("status", flat=True)) == {EmailStatus.PENDING}


def test_a_rolled_back_change_owes_nothing(front_desk, invitable, sends, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError), transaction.atomic():
        portal_services.invite_create(patient=invitable, by=front_desk)
        raise RuntimeError("the page failed after the invitation was written")
    assert sends == [] and not OutboxEmail.objects.exists()


def test_the_same_email_is_owed_once_however_often_it_is_asked_for(patient, sends, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        first = services.email_owe(kind=EmailKind.REMINDER, object_id=7, key="2030-01-01T10:00")
        again = services.email_owe(kind=EmailKind.REMINDER, object_id=7, key="2030-01-01T10:00")
        moved = services.email_owe(kind=EmailKind.REMINDER, object_id=7, key="2030-01-01T15:00")
    assert first and again is None and moved
    assert sends == [first, moved]


def test_an_owed_email_sent_twice_goes_once(front_desk, invitable, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        portal_services.invite_create(patient=invitable, by=front_desk)
    row = OutboxEmail.objects.get()
    assert send_email.apply(args=[row.pk]).get() is True
    assert send_email.apply(args=[row.pk]).get() is False  # a redelivered message, or the sweeper's
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["eleanor@example.org"]
    row.refresh_from_db()
    assert (row.status, row.attempts) == (EmailStatus.SENT, 1) and row.settled_at is not None


def test_the_sweeper_sends_again_what_the_broker_lost_and_never_what_was_sent(
    front_desk, invitable, sends, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):  # committed, but its message never reached a worker
        portal_services.invite_create(patient=invitable, by=front_desk)
    row = OutboxEmail.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        assert services.emails_sweep() == []  # sent to the broker just now: not yet lost
    OutboxEmail.objects.update(enqueued_at=timezone.now() - services.resend_after() - timedelta(seconds=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert services.emails_sweep() == [row.pk]
    assert sends == [row.pk]

    send_email.apply(args=[row.pk])
    OutboxEmail.objects.update(enqueued_at=timezone.now() - timedelta(days=1))
    assert services.emails_sweep() == [] and len(mail.outbox) == 1


def test_a_mail_server_outage_is_retried_then_left_to_the_sweeper(
    front_desk, invitable, monkeypatch, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        portal_services.invite_create(patient=invitable, by=front_desk)
    row = OutboxEmail.objects.get()
    monkeypatch.setattr(services, "send_mail", lambda *args: (_ for _ in ()).throw(SMTPServerDisconnected()))
    send_email.apply(args=[row.pk])  # eagerly: the whole round of retries at once

    row.refresh_from_db()
    assert row.status == EmailStatus.PENDING and "SMTPServerDisconnected" in row.last_error
    assert row.attempts == send_email.max_retries + 1
    assert services.emails_sweep() == []  # it waits out the longest retry before the sweeper sends it again
    OutboxEmail.objects.update(enqueued_at=timezone.now() - timedelta(hours=1))
    assert services.emails_sweep() == [row.pk]
    monkeypatch.undo()
    send_email.apply(args=[row.pk])
    assert len(mail.outbox) == 1


def test_an_email_that_cannot_be_made_fails_with_its_reason(
    front_desk, invitable, monkeypatch, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        portal_services.invite_create(patient=invitable, by=front_desk)
    row = OutboxEmail.objects.get()
    monkeypatch.setattr(services, "render_to_string", lambda *args: (_ for _ in ()).throw(TemplateDoesNotExist("x")))
    send_email.apply(args=[row.pk])
    row.refresh_from_db()
    assert (row.status, row.attempts) == (EmailStatus.FAILED, 1)
    assert row.last_error == "Could not be sent (TemplateDoesNotExist)."
    assert services.emails_sweep(older_than=timedelta(0)) == []


def test_an_email_that_no_longer_applies_is_settled_unsent(front_desk, invitable, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        invite = portal_services.invite_create(patient=invitable, by=front_desk)
    type(invite).objects.filter(pk=invite.pk).update(revoked_at=timezone.now())
    row = OutboxEmail.objects.get()
    assert send_email.apply(args=[row.pk]).get() is False
    row.refresh_from_db()
    assert row.status == EmailStatus.NOT_SENT and mail.outbox == []


def test_the_sweeper_runs_every_minute_and_resends_within_two():
    from django.conf import settings

    from pit_portal.celery import app

    [entry] = [entry for entry in app.conf.beat_schedule.values() if entry["task"].endswith("sweep_outbox")]
    assert entry["schedule"] == timedelta(seconds=settings.OUTBOX_SWEEP_SECONDS) <= timedelta(minutes=1)
    assert services.resend_after() + entry["schedule"] <= timedelta(minutes=2)
