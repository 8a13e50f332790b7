"""The broker loses its data after the portal committed changes that owe emails: every owed email still goes,
once, through the real worker and beat, with nobody acting."""

import time
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from pit_portal.celery import app
from pit_portal.outbox.models import EmailKind, EmailStatus, OutboxEmail
from portal import services as portal_services
from scheduling import services as scheduling_services
from tests.documents.test_worker import booked_session
from tests.factories import PatientFactory
from tests.portal.helpers import make_appointment
from tests.scheduling.factories import at, every_day
from treatments import services as treatment_services

pytestmark = pytest.mark.worker


def sent_subjects(mail_dir) -> list[bytes]:
    files = sorted(mail_dir.iterdir()) if mail_dir.exists() else []
    return [line for path in files for line in path.read_bytes().splitlines() if line.startswith(b"Subject: ")]


def purge(queue: str) -> int:
    """What a broker that lost its data does to the messages waiting in `queue`: drops them."""
    with app.connection_for_write() as connection:
        return connection.default_channel.queue_purge(queue)


def owe_one_of_each(clinician, front_desk, patient) -> None:
    """Product actions, each owing its patient (or the desk) an email, and a signed note owing two documents."""
    every_day(clinician)
    draft, _ = booked_session(clinician)  # its sheet, once ready, owes the "ready" email
    treatment_services.session_sign(session=draft, by=clinician)
    portal_services.invite_create(patient=PatientFactory(email="eleanor@example.org"), by=front_desk)
    day = timezone.localdate() + timedelta(days=3)
    moved = make_appointment(patient, at(day, 9), clinician=clinician)
    scheduling_services.appointment_move(appointment=moved, starts_at=at(day, 11), by=front_desk)
    cancelled = make_appointment(patient, at(day, 14), clinician=clinician)
    portal_services.appointment_cancel_by_patient(appointment=cancelled, reason="A cold", by=patient.user)
    Client().post(reverse("password_reset"), {"email": patient.email})


@pytest.fixture
def clinic_email(settings, monkeypatch):
    """The front desk's address, here and (from the environment) in the worker started after this."""
    settings.CLINIC_EMAIL = "desk@clinic.example"
    monkeypatch.setenv("CLINIC_EMAIL", settings.CLINIC_EMAIL)


def test_every_owed_email_goes_once_after_the_broker_lost_its_messages(
    clinic_email, recovering_worker, clinician, front_desk, patient, wait_for
):
    type(patient).objects.filter(pk=patient.pk).update(email="charlie@example.org")
    patient.user.email = "charlie@example.org"
    patient.user.save()
    patient.refresh_from_db()

    lost = f"{recovering_worker.queue}-lost"
    app.conf.task_default_queue = lost  # no worker reads it: these messages wait for a flush
    try:
        owe_one_of_each(clinician, front_desk, patient)
    finally:
        app.conf.task_default_queue = recovering_worker.queue
    assert purge(lost) >= 7  # two documents, five emails: all gone from the broker

    kinds = {EmailKind.INVITATION, EmailKind.RESCHEDULED, EmailKind.CANCELLED, EmailKind.DESK_CANCELLATION,
             EmailKind.PASSWORD_RESET, EmailKind.AFTERCARE_READY}  # fmt: skip

    def all_settled() -> bool:
        rows = list(OutboxEmail.objects.values_list("kind", "status"))
        return {kind for kind, _ in rows} == kinds and {status for _, status in rows} == {EmailStatus.SENT}

    wait_for(all_settled, timeout=50, what="every owed email to be sent", log=recovering_worker.log)
    time.sleep(3)  # several more sweeps: none sends anything again
    assert len(sent_subjects(recovering_worker.mail_dir)) == len(kinds)
    assert OutboxEmail.objects.count() == len(kinds)
