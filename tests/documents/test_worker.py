"""The pipeline through the real broker and real worker processes: a signed note becomes two READY PDFs, and a
worker killed in the middle of a task loses nothing once the sweeper runs."""

import signal
import time
from datetime import timedelta

import psutil
import psycopg
import pytest
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.utils import dateformat, timezone

from accounts.models import Role
from documents import services
from documents.models import Document, DocumentKind, DocumentStatus
from pit_portal.backups.postgres import Database
from scheduling import services as scheduling_services
from scheduling.models import Appointment
from tests.documents.conftest import pdf_text, start_worker
from tests.factories import CourseFactory, PatientFactory, SessionFactory, UserFactory
from tests.scheduling.factories import AppointmentFactory, appointment_type, at, every_day
from treatments import services as treatment_services

pytestmark = pytest.mark.worker


def booked_session(clinician):
    # With a portal sign-in: the ready email goes only to a patient who can read the sheet there.
    user = UserFactory(username="quentin", role=Role.PATIENT)
    patient = PatientFactory(given_name="Quentin", family_name="Zabriskie-Vale", email="quentin@example.org", user=user)
    draft = SessionFactory(course=CourseFactory(patient=patient, created_by=clinician), sites=3)
    visit = AppointmentFactory(
        patient=patient, clinician=clinician, starts_at=at(timezone.localdate() + timedelta(days=6), 10, 30)
    )
    return draft, visit


def all_ready(session) -> bool:
    statuses = list(Document.objects.filter(session=session).values_list("status", flat=True))
    return len(statuses) == 2 and set(statuses) == {DocumentStatus.READY}


def test_signing_makes_both_pdfs_in_a_real_worker_naming_nerves_and_next_visit(documents_worker, clinician, wait_for):
    draft, visit = booked_session(clinician)
    treatment_services.session_sign(session=draft, by=clinician)  # commits, then sends one message per document

    wait_for(lambda: all_ready(draft), timeout=90, what="both documents to be ready", log=documents_worker.log)
    nerves = [site.nerve.name for site in draft.sites.select_related("nerve")]
    visit_day = dateformat.format(timezone.localtime(visit.starts_at), "l j F Y")
    for document in Document.objects.filter(session=draft):
        with default_storage.open(document.file_name) as stored:
            text = pdf_text(stored.read())
        assert all(name in text for name in nerves), document.kind
        # The sheet names the next visit; the visit summary, a record of the visit, names no appointment.
        assert (visit_day in text) == (document.kind == DocumentKind.AFTERCARE), document.kind

    mail_dir = documents_worker.mail_dir
    wait_for(lambda: mail_dir.exists() and any(p.stat().st_size for p in mail_dir.iterdir()), timeout=30, what="email")
    wait_for(lambda: b"/portal/" in next(mail_dir.iterdir()).read_bytes(), timeout=10, what="the email body")
    log = documents_worker.log.read_text(errors="replace")
    assert "Zabriskie" not in log and "quentin@" not in log  # ids only, in messages and in logs


def ready_emails(mail_dir) -> int:
    files = list(mail_dir.iterdir()) if mail_dir.exists() else []
    return sum(path.read_bytes().count(b"Subject: Your aftercare sheet is ready") for path in files)


def current_aftercare(session) -> Document:
    return Document.objects.get(session=session, kind=DocumentKind.AFTERCARE, superseded_at__isnull=True)


def test_booking_the_next_visit_reissues_the_sheet_in_a_real_worker_and_emails_once(
    documents_worker, clinician, wait_for
):
    draft, _ = booked_session(clinician)
    Appointment.objects.filter(patient=draft.course.patient).delete()  # nothing booked yet when it is signed
    treatment_services.session_sign(session=draft, by=clinician)
    wait_for(lambda: all_ready(draft), timeout=90, what="both documents to be ready", log=documents_worker.log)
    wait_for(lambda: ready_emails(documents_worker.mail_dir) == 1, timeout=30, what="the ready email")
    with default_storage.open(current_aftercare(draft).file_name) as stored:
        assert "None booked yet" in pdf_text(stored.read())

    every_day(clinician)
    starts_at = at(timezone.localdate() + timedelta(days=7), 10)
    scheduling_services.appointment_book(patient=draft.course.patient, clinician=clinician, starts_at=starts_at,
                                         appointment_type=appointment_type("pit-session"), by=clinician)  # fmt: skip

    def reissued_and_ready() -> bool:
        sheet = current_aftercare(draft)
        return sheet.version == 2 and sheet.status == DocumentStatus.READY

    wait_for(reissued_and_ready, timeout=90, what="the reissued sheet", log=documents_worker.log)
    with default_storage.open(current_aftercare(draft).file_name) as stored:
        text = pdf_text(stored.read())
    assert f"{dateformat.format(timezone.localtime(starts_at), 'l j F Y')} at 10:00" in text
    assert "None booked yet" not in text
    time.sleep(3)  # time for a second email, were one sent
    assert ready_emails(documents_worker.mail_dir) == 1


def document_ids(session) -> list[int]:
    return list(Document.objects.filter(session=session).values_list("pk", flat=True))


def hold_row_locks(document_ids: list[int]) -> psycopg.Connection:
    """A second database connection that holds FOR UPDATE locks on the documents, so a task touching them blocks."""
    locker = Database.from_django(connection.settings_dict).connect()
    locker.execute("SELECT id FROM documents_document WHERE id = ANY(%s) FOR UPDATE", [document_ids])
    return locker


def a_task_is_blocked_on_a_document_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            " AND query ILIKE %s",
            ["%documents_document%FOR UPDATE%"],
        )
        return cursor.fetchone()[0] > 0


def kill_worker(process) -> None:
    """SIGKILL the worker and its pool process: no shutdown, no ack, no chance to put the message back."""
    children = psutil.Process(process.pid).children(recursive=True)
    process.send_signal(signal.SIGKILL)
    for child in children:
        child.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    psutil.wait_procs(children, timeout=10)


def sign_with_document_rows_locked(draft, clinician) -> psycopg.Connection:
    """Sign the draft, its documents' rows locked by another connection before any worker can reach them."""
    lockers = []
    with transaction.atomic():
        # Registered first, so it runs right after the commit and before the messages are sent: the rows are
        # visible to other connections by then, and locked before any worker can reach them.
        transaction.on_commit(lambda: lockers.append(hold_row_locks(document_ids(draft))))
        treatment_services.session_sign(session=draft, by=clinician)
    [locker] = lockers
    return locker


def test_a_worker_killed_mid_task_loses_nothing_once_the_sweeper_runs(documents_worker, clinician, wait_for, tmp_path):
    draft, _ = booked_session(clinician)
    locker = sign_with_document_rows_locked(draft, clinician)
    ids = document_ids(draft)
    try:
        wait_for(a_task_is_blocked_on_a_document_lock, timeout=60, what="a task to start", log=documents_worker.log)
        kill_worker(documents_worker.process)
    finally:
        locker.rollback()
        locker.close()
    time.sleep(2)
    assert Document.objects.filter(session=draft, status=DocumentStatus.PENDING).count() == 2

    fresh = start_worker(documents_worker.queue, tmp_path / "worker2.log", tmp_path / "mail2")
    try:
        # Whatever the killed worker held is gone; the sweeper finds it by its row, not by the broker.
        swept = services.documents_sweep(older_than=timedelta(0))
        assert set(swept) == set(ids)
        wait_for(lambda: all_ready(draft), timeout=90, what="the swept documents", log=tmp_path / "worker2.log")
    finally:
        fresh.terminate()
        fresh.wait(timeout=30)
    for document in Document.objects.filter(session=draft):
        with default_storage.open(document.file_name) as stored:
            assert stored.read().startswith(b"%PDF-")
