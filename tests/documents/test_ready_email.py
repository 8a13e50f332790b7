"""The "your aftercare sheet is ready" email: one per visit however many versions the sheet goes through, owed
as a row written with the first ready sheet, and sent only to a patient who can sign in to the portal to read it."""

import importlib
from datetime import timedelta
from unittest import mock

import pytest
from django.core import mail
from django.db import connection
from django.utils import timezone

from accounts.models import Role
from documents import notifications, services, tasks
from documents.models import DocumentKind, DocumentStatus, ReadyEmail, ReadyEmailStatus
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


def send_owed(session) -> None:
    """Run the send task for the session's owed email, as the worker would (here, possibly more than once)."""
    tasks.send_ready_email.apply(args=[ReadyEmail.objects.get(session=session).pk])


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
    assert ReadyEmail.objects.filter(session=signed).count() == 1
    assert len(mail.outbox) == 1


def test_the_send_task_run_twice_sends_one_email(signed, aftercare):
    render(aftercare)
    send_owed(signed)
    send_owed(signed)  # a redelivered message
    assert len(mail.outbox) == 1
    owed = ReadyEmail.objects.get(session=signed)
    assert owed.status == ReadyEmailStatus.SENT and owed.settled_at is not None


@pytest.mark.parametrize("account", ["none", "disabled"])
def test_a_patient_who_cannot_sign_in_is_not_emailed(account, clinician, django_capture_on_commit_callbacks):
    user = UserFactory(username="gone", role=Role.PATIENT, is_active=False) if account == "disabled" else None
    patient = PatientFactory(email="no-portal@example.org", user=user)
    signed = signed_for(patient, clinician, django_capture_on_commit_callbacks)
    render_current(signed)
    send_owed(signed)

    assert mail.outbox == []
    assert ReadyEmail.objects.get(session=signed).status == ReadyEmailStatus.NOT_SENT


def test_the_email_owed_is_written_with_the_ready_sheet_and_sent_after_commit(
    aftercare, summary, django_capture_on_commit_callbacks
):
    with (
        mock.patch.object(tasks.send_ready_email, "delay") as delay,
        django_capture_on_commit_callbacks(execute=True) as callbacks,
    ):
        render(summary)
        assert not ReadyEmail.objects.exists()  # a visit summary owes no email
        render(aftercare)
    owed = ReadyEmail.objects.get()
    assert (owed.session_id, owed.patient_id, owed.status) == (aftercare.session_id, aftercare.patient_id, "pending")
    assert len(callbacks) == 1
    delay.assert_called_once_with(owed.pk)  # an id, nothing else


def test_an_email_the_broker_lost_is_sent_again_by_the_sweeper(aftercare, django_capture_on_commit_callbacks):
    with (
        mock.patch.object(tasks.send_ready_email, "delay", side_effect=ConnectionError("broker down")),
        django_capture_on_commit_callbacks(execute=True),
    ):
        render(aftercare)
    owed = ReadyEmail.objects.get()
    assert owed.status == ReadyEmailStatus.PENDING

    with (
        mock.patch.object(tasks.send_ready_email, "delay") as delay,
        mock.patch.object(tasks.render_document, "delay"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        tasks.sweep_pending_documents.apply(kwargs={"stale_after_seconds": 0})
    delay.assert_called_once_with(owed.pk)

    tasks.send_ready_email.apply(args=[owed.pk])
    assert len(mail.outbox) == 1
    with django_capture_on_commit_callbacks(execute=True):
        assert services.ready_emails_sweep(older_than=timedelta(0)) == []  # sent: never again


def test_the_sweeper_stops_sending_an_email_that_is_no_longer_news(aftercare, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        render(aftercare)
    owed = ReadyEmail.objects.get()
    ReadyEmail.objects.filter(pk=owed.pk).update(created_at=timezone.now() - services.READY_EMAIL_WORTH_SENDING)
    with django_capture_on_commit_callbacks(execute=False):
        assert services.ready_emails_sweep(older_than=timedelta(0)) == []
    ReadyEmail.objects.filter(pk=owed.pk).update(created_at=timezone.now() - timedelta(hours=1))
    with django_capture_on_commit_callbacks(execute=False):
        assert services.ready_emails_sweep(older_than=timedelta(0)) == [owed.pk]


# Messages queued by document id (as before emails were owed per visit) go through the same once-per-visit rule.


def test_messages_queued_by_document_id_email_once_per_visit(signed, clinician):
    render_current(signed)
    tasks.send_document_ready_email.apply(args=[document_of(signed, DocumentKind.AFTERCARE).pk])
    treatment_services.addendum_add(session=signed, text="More.", by=clinician)
    render_current(signed)
    tasks.send_document_ready_email.apply(args=[document_of(signed, DocumentKind.AFTERCARE).pk])
    assert len(mail.outbox) == 1
    assert not notifications.ready_email_send(ReadyEmail.objects.get().pk)  # settled: never again


def test_messages_queued_by_document_id_email_no_one_without_a_portal_account(
    clinician, django_capture_on_commit_callbacks
):
    signed = signed_for(PatientFactory(email="no-portal@example.org"), clinician, django_capture_on_commit_callbacks)
    render_current(signed)
    tasks.send_document_ready_email.apply(args=[document_of(signed, DocumentKind.AFTERCARE).pk])
    assert mail.outbox == []


def test_visits_ready_before_the_upgrade_count_as_told(signed, clinician):
    """Migration 0005: a visit whose sheet was ready (and emailed) before emails were owed per visit is recorded
    as told, once, however many ready versions it has, so a later version sends nothing."""
    migration = importlib.import_module("documents.migrations.0005_ready_emails_already_sent")
    render_current(signed)
    treatment_services.addendum_add(session=signed, text="More.", by=clinician)
    render_current(signed)
    ReadyEmail.objects.all().delete()  # as it was before the upgrade
    with connection.cursor() as cursor:
        cursor.execute(migration.FORWARD)
    owed = ReadyEmail.objects.get()
    assert (owed.session_id, owed.status) == (signed.pk, ReadyEmailStatus.SENT)
    assert not notifications.ready_email_send(owed.pk) and mail.outbox == []

    with connection.cursor() as cursor:
        cursor.execute(migration.REVERSE)
    assert not ReadyEmail.objects.exists()
