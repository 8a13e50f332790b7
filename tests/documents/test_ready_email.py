"""The "your aftercare sheet is ready" email: one per visit however many versions the sheet goes through, owed
as a row written with the first ready sheet, and sent only to a patient who can sign in to the portal to read it."""

from datetime import timedelta
from unittest import mock

import pytest
from django.core import mail
from django.utils import timezone

from accounts.models import Role
from documents import tasks
from documents.models import DocumentKind, DocumentStatus
from pit_portal.outbox import services as outbox_services
from pit_portal.outbox.models import EmailKind, EmailStatus, OutboxEmail
from pit_portal.outbox.tasks import send_email
from scheduling import services as scheduling_services
from tests.documents.conftest import document_of
from tests.factories import CourseFactory, PatientFactory, SessionFactory, UserFactory
from tests.scheduling.factories import appointment_type, at, every_day
from treatments import services as treatment_services


def render(document) -> None:
    tasks.render_document.apply(args=[document.pk])
    document.refresh_from_db()
    assert document.status == DocumentStatus.READY


def render_current(session) -> None:
    render(document_of(session, DocumentKind.AFTERCARE))


def owed_for(session) -> OutboxEmail:
    return OutboxEmail.objects.get(kind=EmailKind.AFTERCARE_READY, object_id=session.pk)


def send_owed(session) -> None:
    """Run the send task for the session's owed email, as the worker would (here, possibly more than once)."""
    send_email.apply(args=[owed_for(session).pk])


def signed_for(patient, clinician, django_capture_on_commit_callbacks):
    draft = SessionFactory(course=CourseFactory(patient=patient, created_by=clinician), sites=1)
    with django_capture_on_commit_callbacks(execute=False):
        return treatment_services.session_sign(session=draft, by=clinician)


def test_a_visit_emails_its_patient_once_however_many_versions_its_sheet_has(signed, clinician, patient):
    render_current(signed)
    send_owed(signed)
    assert [message.to for message in mail.outbox] == [[patient.email]]

    every_day(clinician)
    starts_at = at(timezone.localdate() + timedelta(days=7), 10)
    scheduling_services.appointment_book(patient=patient, clinician=clinician, starts_at=starts_at, by=clinician,
                                         appointment_type=appointment_type("pit-session"))  # fmt: skip
    render_current(signed)  # version 2, naming the appointment
    treatment_services.addendum_add(session=signed, text="Bruise noted next day.", by=clinician)
    render_current(signed)  # version 3, with the addendum
    send_owed(signed)

    assert document_of(signed, DocumentKind.AFTERCARE).version == 3
    assert OutboxEmail.objects.filter(kind=EmailKind.AFTERCARE_READY, object_id=signed.pk).count() == 1
    assert len(mail.outbox) == 1


def test_the_send_task_run_twice_sends_one_email(signed, aftercare):
    render(aftercare)
    send_owed(signed)
    send_owed(signed)  # a redelivered message
    assert len(mail.outbox) == 1
    owed = owed_for(signed)
    assert owed.status == EmailStatus.SENT and owed.settled_at is not None


@pytest.mark.parametrize("account", ["none", "disabled"])
def test_a_patient_who_cannot_sign_in_is_not_emailed(account, clinician, django_capture_on_commit_callbacks):
    user = UserFactory(username="gone", role=Role.PATIENT, is_active=False) if account == "disabled" else None
    patient = PatientFactory(email="no-portal@example.org", user=user)
    signed = signed_for(patient, clinician, django_capture_on_commit_callbacks)
    render_current(signed)
    send_owed(signed)

    assert mail.outbox == []
    assert owed_for(signed).status == EmailStatus.NOT_SENT


def test_the_email_owed_is_written_with_the_ready_sheet_and_sent_after_commit(
    aftercare, summary, django_capture_on_commit_callbacks
):
    with (
        mock.patch.object(send_email, "delay") as delay,
        django_capture_on_commit_callbacks(execute=True) as callbacks,
    ):
        render(summary)
        assert not OutboxEmail.objects.exists()  # a visit summary owes no email
        render(aftercare)
    owed = OutboxEmail.objects.get()
    assert (owed.kind, owed.object_id, owed.status) == (EmailKind.AFTERCARE_READY, aftercare.session_id, "pending")
    assert len(callbacks) == 1
    delay.assert_called_once_with(owed.pk)  # an id, nothing else


def test_an_email_the_broker_lost_is_sent_again_by_the_sweeper(aftercare, django_capture_on_commit_callbacks):
    with (
        mock.patch.object(send_email, "delay", side_effect=ConnectionError("broker down")),
        django_capture_on_commit_callbacks(execute=True),
    ):
        render(aftercare)
    owed = OutboxEmail.objects.get()
    assert owed.status == EmailStatus.PENDING

    with (
        mock.patch.object(send_email, "delay") as delay,
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert outbox_services.emails_sweep(older_than=timedelta(0)) == [owed.pk]
    delay.assert_called_once_with(owed.pk)

    send_email.apply(args=[owed.pk])
    assert len(mail.outbox) == 1
    with django_capture_on_commit_callbacks(execute=True):
        assert outbox_services.emails_sweep(older_than=timedelta(0)) == []  # sent: never again


def test_the_sweeper_stops_sending_an_email_that_is_no_longer_news(aftercare, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        render(aftercare)
    owed = OutboxEmail.objects.get()
    OutboxEmail.objects.filter(pk=owed.pk).update(created_at=timezone.now() - timedelta(hours=1))
    with django_capture_on_commit_callbacks(execute=False):
        assert outbox_services.emails_sweep(older_than=timedelta(0)) == [owed.pk]
    stale = timezone.now() - outbox_services.WORTH_SENDING - timedelta(seconds=1)
    OutboxEmail.objects.filter(pk=owed.pk).update(created_at=stale)
    with django_capture_on_commit_callbacks(execute=False):
        assert outbox_services.emails_sweep(older_than=timedelta(0)) == []
    owed.refresh_from_db()
    assert owed.status == EmailStatus.NOT_SENT and "No longer news" in owed.last_error


# Messages queued by document id (as before emails were owed per visit) go through the same once-per-visit rule.


def test_messages_queued_by_document_id_email_once_per_visit(signed, clinician):
    render_current(signed)
    tasks.send_document_ready_email.apply(args=[document_of(signed, DocumentKind.AFTERCARE).pk])
    treatment_services.addendum_add(session=signed, text="More.", by=clinician)
    render_current(signed)
    tasks.send_document_ready_email.apply(args=[document_of(signed, DocumentKind.AFTERCARE).pk])
    send_owed(signed)
    assert len(mail.outbox) == 1
    assert not outbox_services.email_send(owed_for(signed).pk)  # settled: never again


def test_messages_queued_by_document_id_email_no_one_without_a_portal_account(
    clinician, django_capture_on_commit_callbacks
):
    signed = signed_for(PatientFactory(email="no-portal@example.org"), clinician, django_capture_on_commit_callbacks)
    render_current(signed)
    tasks.send_document_ready_email.apply(args=[document_of(signed, DocumentKind.AFTERCARE).pk])
    send_owed(signed)
    assert mail.outbox == []
