"""A stored PDF that is damaged or missing is rebuilt from the signed record as that version was made, by itself:
found on download or by the scheduled check of every stored file, audited, and shown as being rebuilt meanwhile."""

import hashlib

import pytest
from django.core import mail
from django.core.files.storage import default_storage
from django.urls import reverse

from audit.models import Action, AuditEvent
from documents import services, tasks
from documents.models import Document, DocumentDownload, DocumentStatus
from pit_portal.outbox.models import OutboxEmail
from tests.documents.conftest import pdf_text
from tests.documents.test_views import made_ready
from treatments import services as treatment_services


def damage(document: Document) -> None:
    with default_storage.open(document.file_name, "r+b") as stored:
        stored.seek(-20, 2)
        stored.write(b"damaged-bytes-here!!")


def stored_text(document: Document) -> str:
    with default_storage.open(document.file_name, "rb") as stored:
        content = stored.read()
    assert hashlib.sha256(content).hexdigest() == document.sha256
    return pdf_text(content)


@pytest.fixture
def sheet_then_addendum(aftercare, clinician, django_capture_on_commit_callbacks) -> Document:
    """Version 1 of the sheet, ready, then superseded by an addendum written after it was made."""
    made_ready(aftercare)
    with django_capture_on_commit_callbacks(execute=False):
        treatment_services.addendum_add(session=aftercare.session, text="Bruise noted on day two.", by=clinician)
    aftercare.refresh_from_db()
    return aftercare


def test_a_damaged_file_found_on_download_is_rebuilt_as_that_version_was_made(
    clinician_client, sheet_then_addendum, django_capture_on_commit_callbacks
):
    sheet = sheet_then_addendum
    damage(sheet)
    with django_capture_on_commit_callbacks(execute=False) as enqueued:
        response = clinician_client.get(reverse("documents:download", args=[sheet.pk]))
    assert response.status_code == 410 and b"being rebuilt" in response.content
    assert DocumentDownload.objects.get().checksum_ok is False
    sheet.refresh_from_db()
    assert sheet.status == DocumentStatus.PENDING and sheet.rebuild_requested_at is not None
    assert len(enqueued) == 1  # the render task, after the commit

    box = clinician_client.get(reverse("documents:session_status", args=[sheet.session_id])).content.decode()
    line = box.split(f'data-document="{sheet.pk}"')[1].split("</li>")[0]
    assert "Being rebuilt" in line and "Download" not in line and "Ready" not in line

    tasks.render_document.apply(args=[sheet.pk])
    sheet.refresh_from_db()
    assert (sheet.status, sheet.version, sheet.rebuild_requested_at) == (DocumentStatus.READY, 1, None)
    assert "Bruise noted" not in stored_text(sheet)  # the addendum came after this version: not in it
    assert clinician_client.get(reverse("documents:download", args=[sheet.pk])).status_code == 200
    rebuilt = AuditEvent.objects.filter(action=Action.DOCUMENT_RENDERED, object_id=str(sheet.pk)).first()
    assert "rebuilt" in rebuilt.detail
    # The patient was told about this sheet when it was first made: a rebuild owes no new email.
    assert OutboxEmail.objects.count() == 1 and mail.outbox == []


def test_the_scheduled_check_rebuilds_missing_and_damaged_files_and_passes_sound_ones(
    summary, aftercare, django_capture_on_commit_callbacks
):
    made_ready(summary), made_ready(aftercare)
    default_storage.delete(summary.file_name)

    with django_capture_on_commit_callbacks(execute=False) as enqueued:
        tasks.verify_stored_documents.apply()
    assert len(enqueued) == 1
    summary.refresh_from_db(), aftercare.refresh_from_db()
    assert summary.status == DocumentStatus.PENDING and summary.rebuild_requested_at is not None
    assert aftercare.status == DocumentStatus.READY and aftercare.checksum_checked_at is not None

    tasks.render_document.apply(args=[summary.pk])
    summary.refresh_from_db()
    assert summary.status == DocumentStatus.READY
    assert summary.session.sites.first().nerve.name in stored_text(summary)


def test_the_scheduled_check_reads_a_bounded_batch_oldest_check_first(summary, aftercare, settings):
    settings.DOCUMENTS_CHECKSUM_BATCH = 1
    made_ready(summary), made_ready(aftercare)
    Document.objects.filter(pk=aftercare.pk).update(checksum_checked_at=None)
    damage(aftercare)
    assert services.documents_verify() == [aftercare.pk]  # damaged, and checked first
    assert services.documents_verify() == []  # then the other one, sound


def test_two_downloads_of_a_damaged_file_ask_for_one_rebuild(clinician_client, aftercare,
                                                              django_capture_on_commit_callbacks):  # fmt: skip
    made_ready(aftercare)
    damage(aftercare)
    with django_capture_on_commit_callbacks(execute=False) as enqueued:
        clinician_client.get(reverse("documents:download", args=[aftercare.pk]))
        clinician_client.get(reverse("documents:download", args=[aftercare.pk]))
    assert len(enqueued) == 1


def test_the_patient_sees_their_sheet_being_rebuilt_not_a_download(patient_client, aftercare):
    made_ready(aftercare)
    services.document_rebuild(document_id=aftercare.pk)
    page = patient_client.get(reverse("portal:documents")).content.decode()
    item = page.split(f'data-document="{aftercare.pk}"')[1].split("</li>")[0]
    assert "being rebuilt" in item and "Download" not in item
    assert patient_client.get(reverse("portal:document_download", args=[aftercare.pk])).status_code == 409
