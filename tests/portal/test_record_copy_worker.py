"""Patients' copies through the real broker and a real worker process: asked for on the portal page, built by the
worker (the FHIR bundle, the PDFs the worker rendered, the summary), emailed about once and downloaded; and one a
killed worker left, finished once the sweeper (run by the worker too) sends it again."""

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import Role
from documents.models import Document, DocumentStatus
from portal import tasks
from portal.models import CopyStatus, RecordCopy
from tests.documents import conftest as documents_fixtures
from tests.factories import CourseFactory, PatientFactory, SessionFactory, UserFactory
from tests.portal.record_copy_helpers import bundle_of, pdf_text, read_zip, stored_zip
from treatments.services import session_sign

pytestmark = pytest.mark.worker
# The documents' worker, storing into this test's own folder (documents_root, autouse here as there).
documents_root = documents_fixtures.documents_root
documents_worker = documents_fixtures.documents_worker


def copy_status(copy_id: int) -> str:
    return RecordCopy.objects.values_list("status", flat=True).get(pk=copy_id)


@pytest.fixture
def portal_patient():
    user = UserFactory(username="winifred", role=Role.PATIENT)
    return PatientFactory(given_name="Winifred", family_name="Quarrington", email="winifred@example.org", user=user)


def copy_emails(mail_dir) -> int:
    files = list(mail_dir.iterdir()) if mail_dir.exists() else []
    return sum(path.read_bytes().count(b"Subject: Your copy is ready to download") for path in files)


def test_a_copy_asked_for_in_the_portal_is_built_by_the_worker_emailed_and_downloads(
    documents_worker, portal_patient, wait_for
):
    session = SessionFactory(course=CourseFactory(patient=portal_patient), sites=2)
    session_sign(session=session, by=session.clinician)  # the worker renders its two PDFs
    ready = Document.objects.filter(session=session, status=DocumentStatus.READY)
    wait_for(lambda: ready.count() == 2, timeout=90, what="the visit's PDFs", log=documents_worker.log)
    client = Client()
    client.force_login(portal_patient.user)

    assert client.post(reverse("portal:record_copy")).status_code == 302
    [copy] = RecordCopy.objects.all()
    wait_for(lambda: copy_status(copy.pk) == CopyStatus.READY, timeout=90, what="the copy to be ready",
             log=documents_worker.log)  # fmt: skip

    copy.refresh_from_db()
    assert (documents_worker.documents_root / copy.file_name).is_file()
    response = client.get(reverse("portal:record_copy_download", args=[copy.pk]))
    assert response.status_code == 200
    members = read_zip(b"".join(response.streaming_content))
    bundle_of(members)
    pdfs = [name for name in members if name.endswith(".pdf")]
    assert len(pdfs) == 2
    nerves = [site.nerve.name for site in session.sites.select_related("nerve")]
    assert all(nerve in pdf_text(members[name]) for name in pdfs for nerve in nerves)
    assert all(nerve in members["summary.html"].decode() for nerve in nerves)

    mail_dir = documents_worker.mail_dir
    wait_for(lambda: copy_emails(mail_dir) == 1, timeout=30, what="the copy's email", log=documents_worker.log)
    log = documents_worker.log.read_text(errors="replace")
    assert "Quarrington" not in log and "winifred@" not in log  # ids only, in messages and in logs


def test_the_sweeper_has_the_worker_finish_a_copy_a_killed_worker_left(documents_worker, portal_patient, wait_for):
    long_ago = timezone.now() - timedelta(hours=1)
    # What a worker killed halfway through leaves: BUILDING, claimed long ago, no file, and no message anywhere.
    copy = RecordCopy.objects.create(
        patient=portal_patient, requested_by=portal_patient.user, status=CopyStatus.BUILDING, claimed_at=long_ago,
        enqueued_at=long_ago, attempts=1,
    )  # fmt: skip

    tasks.sweep_record_copies.delay()  # as beat sends it: the worker sweeps, then builds what it sent again
    wait_for(lambda: copy_status(copy.pk) == CopyStatus.READY, timeout=90, what="the swept copy",
             log=documents_worker.log)  # fmt: skip

    copy.refresh_from_db()
    assert (copy.attempts, copy.claimed_at) == (2, None)
    members = stored_zip(copy)
    assert "Winifred Quarrington" in members["summary.html"].decode()
    bundle_of(members)
    wait_for(lambda: copy_emails(documents_worker.mail_dir) == 1, timeout=30, what="the copy's email")
