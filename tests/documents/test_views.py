"""Downloads (authorised, audited, checksum-verified, never cached) and the status box that polls while pending."""

import re

import pytest
from django.conf import settings
from django.core.files.storage import default_storage
from django.http import Http404
from django.urls import reverse
from django.utils import timezone

from documents import tasks
from documents.access import get_document_for
from documents.downloads import document_response
from documents.models import Document, DocumentDownload, DocumentKind, DocumentStatus
from tests.documents.conftest import document_of
from tests.documents.helpers import ready_document_for
from tests.factories import CourseFactory, SessionFactory
from treatments import services as treatment_services


def made_ready(document: Document) -> Document:
    tasks.render_document.apply(args=[document.pk])
    document.refresh_from_db()
    assert document.status == DocumentStatus.READY
    return document


@pytest.fixture
def ready_aftercare(aftercare) -> Document:
    return made_ready(aftercare)


@pytest.fixture
def others_aftercare(other_patient, clinician, django_capture_on_commit_callbacks) -> Document:
    draft = SessionFactory(course=CourseFactory(patient=other_patient, created_by=clinician), sites=1)
    with django_capture_on_commit_callbacks(execute=False):
        signed = treatment_services.session_sign(session=draft, by=clinician)
    return made_ready(document_of(signed, DocumentKind.AFTERCARE))


def test_staff_download_is_an_audited_uncached_attachment_with_a_neutral_name(
    clinician_client, clinician, ready_aftercare
):
    response = clinician_client.get(reverse("documents:download", args=[ready_aftercare.pk]))
    assert response.status_code == 200
    day = ready_aftercare.session.performed_at.astimezone().date()
    assert response["Content-Disposition"] == f'attachment; filename="aftercare-{day:%Y-%m-%d}.pdf"'
    assert response["Content-Type"] == "application/pdf"
    assert response["Cache-Control"] == "no-store"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response.content.startswith(b"%PDF-")
    assert ready_aftercare.patient.family_name not in response["Content-Disposition"]
    [download] = DocumentDownload.objects.all()
    assert (download.document, download.user, download.checksum_ok) == (ready_aftercare, clinician, True)


def test_a_tampered_file_is_refused_logged_and_audited(clinician_client, clinician, ready_aftercare, caplog):
    path = default_storage.path(ready_aftercare.file_name)
    with open(path, "r+b") as stored:
        stored.seek(-20, 2)
        stored.write(b"tampered-bytes-here!")
    response = clinician_client.get(reverse("documents:download", args=[ready_aftercare.pk]))
    assert response.status_code == 410
    assert b"%PDF" not in response.content and b"cannot be sent" in response.content
    [download] = DocumentDownload.objects.all()
    assert download.checksum_ok is False and download.user == clinician
    assert f"document {ready_aftercare.pk} failed its checksum" in caplog.text
    assert ready_aftercare.patient.family_name not in caplog.text


def test_a_missing_file_is_refused_like_a_tampered_one(clinician, ready_aftercare, rf):
    default_storage.delete(ready_aftercare.file_name)
    request = rf.get("/")
    request.user = clinician
    assert document_response(ready_aftercare, request).status_code == 410


def test_a_pending_document_is_not_ready_and_nothing_is_audited(clinician_client, aftercare):
    response = clinician_client.get(reverse("documents:download", args=[aftercare.pk]))
    assert response.status_code == 409
    assert not DocumentDownload.objects.exists()


def test_a_patient_gets_their_own_current_ready_document_only(patient_user, ready_aftercare, others_aftercare, summary):
    assert get_document_for(patient_user, ready_aftercare.pk) == ready_aftercare
    for refused in (others_aftercare.pk, summary.pk, 10**9):  # someone else's, not ready, missing
        with pytest.raises(Http404):
            get_document_for(patient_user, refused)


def test_a_superseded_version_stays_downloadable_by_its_patient_and_staff(patient_user, ready_aftercare, clinician):
    treatment_services.addendum_add(session=ready_aftercare.session, text="Correction.", by=clinician)
    ready_aftercare.refresh_from_db()
    assert ready_aftercare.superseded_at is not None
    assert get_document_for(patient_user, ready_aftercare.pk) == ready_aftercare  # listed as replaced in the portal
    assert get_document_for(clinician, ready_aftercare.pk) == ready_aftercare


@pytest.mark.parametrize("who", ["front_desk", "manager", "outsider"])
def test_staff_without_the_document_permission_get_nothing(request, who, ready_aftercare):
    with pytest.raises(Http404):
        get_document_for(request.getfixturevalue(who), ready_aftercare.pk)


def test_the_staff_download_view_refuses_patients_and_other_roles(
    client, patient_client, front_desk_client, manager_client, outsider_client, ready_aftercare
):
    url = reverse("documents:download", args=[ready_aftercare.pk])
    assert client.get(url).status_code == 302  # to sign-in
    for other in (patient_client, front_desk_client, manager_client, outsider_client):
        assert other.get(url).status_code in (403, 404)
    assert not DocumentDownload.objects.exists()


def test_session_status_polls_while_pending_and_stops_when_done(clinician_client, signed, aftercare, summary):
    url = reverse("documents:session_status", args=[signed.pk])
    pending = clinician_client.get(url)
    assert pending.status_code == 200
    assert 'hx-trigger="every 3s"' in pending.text and "Being prepared" in pending.text

    made_ready(aftercare)
    Document.objects.filter(pk=summary.pk).update(status=DocumentStatus.FAILED, last_error="Rendering failed (X).")
    done = clinician_client.get(url)
    assert "hx-trigger" not in done.text
    assert reverse("documents:download", args=[aftercare.pk]) in done.text
    assert "Rendering failed (X)." in done.text and reverse("documents:retry", args=[summary.pk]) in done.text


def test_retry_button_requeues_and_returns_the_polling_box(
    clinician_client, summary, django_capture_on_commit_callbacks
):
    Document.objects.filter(pk=summary.pk).update(status=DocumentStatus.FAILED, last_error="Rendering failed.")
    url = reverse("documents:retry", args=[summary.pk])
    assert clinician_client.get(url).status_code == 405
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = clinician_client.post(url, {"scope": "session"}, headers={"HX-Request": "true"})
    assert response.status_code == 200 and 'hx-trigger="every 3s"' in response.text
    assert len(callbacks) == 1  # one task, sent after commit
    summary.refresh_from_db()
    assert summary.status == DocumentStatus.PENDING


def test_retry_without_htmx_redirects_back_to_the_session(clinician_client, summary):
    Document.objects.filter(pk=summary.pk).update(status=DocumentStatus.FAILED)
    response = clinician_client.post(reverse("documents:retry", args=[summary.pk]), {"scope": "session"})
    assert response.status_code == 302 and response["Location"] == reverse(
        "treatments:session", args=[summary.session_id]
    )


def test_status_boxes_show_on_the_session_and_patient_pages(clinician_client, signed, aftercare):
    session_page = clinician_client.get(reverse("treatments:session", args=[signed.pk]))
    assert f'id="documents-session-{signed.pk}"' in session_page.text
    patient_page = clinician_client.get(reverse("patients:detail", args=[signed.course.patient_id]))
    assert f'id="documents-patient-{signed.course.patient_id}"' in patient_page.text
    assert "Aftercare sheet" in patient_page.text


def _box_item(box: str, document: Document) -> str | None:
    found = re.search(rf'<li [^>]*data-document="{document.pk}"[^>]*>(.*?)</li>', box, re.S)
    return found and found.group(1)


def test_the_boxes_show_each_document_s_kind_version_and_dates(clinician_client, signed, clinician):
    treatment_services.addendum_add(session=signed, text="More.", by=clinician)
    session_box = clinician_client.get(reverse("documents:session_status", args=[signed.pk])).text
    patient_box = clinician_client.get(reverse("documents:patient_status", args=[signed.course.patient_id])).text
    documents = list(Document.objects.filter(session=signed))
    assert {document.version for document in documents} == {1, 2}
    for document in documents:
        item = _box_item(session_box, document)
        assert document.get_kind_display() in item and (f" v{document.version}" in item) == (document.version > 1)
        if document.superseded_at:
            assert f"superseded {timezone.localtime(document.superseded_at):%d/%m/%Y %H:%M}" in item
        else:
            assert "superseded" not in item
        in_patient_box = _box_item(patient_box, document)
        assert (in_patient_box is not None) == document.is_current
        if in_patient_box:
            assert f"session of {timezone.localtime(signed.performed_at):%d/%m/%Y}" in in_patient_box


def test_front_desk_sees_no_documents_box_and_cannot_poll(front_desk_client, signed):
    page = front_desk_client.get(reverse("patients:detail", args=[signed.course.patient_id]))
    assert page.status_code == 200 and "documents-patient-" not in page.text
    url = reverse("documents:patient_status", args=[signed.course.patient_id])
    assert front_desk_client.get(url).status_code == 403


def test_status_partial_query_count_does_not_grow_with_documents(
    clinician_client, signed, django_assert_max_num_queries, clinician
):
    for _ in range(3):
        treatment_services.addendum_add(session=signed, text="More.", by=clinician)
    with django_assert_max_num_queries(12):
        response = clinician_client.get(reverse("documents:session_status", args=[signed.pk]))
    assert response.text.count("data-document=") == 8


def test_no_public_url_serves_a_stored_document(client, clinician_client, ready_aftercare, documents_root):
    name = ready_aftercare.file_name
    assert (documents_root / name).is_file()
    for url in (f"/{name}", f"/media/{name}", f"/{settings.STATIC_URL.strip('/')}/{name}", f"/documents/{name}"):
        assert clinician_client.get(url).status_code == 404
    assert not settings.MEDIA_ROOT  # no media folder that a static-file server could be pointed at


def test_the_matrix_helper_makes_a_ready_document(patient):
    document = ready_document_for(patient)
    assert document.status == DocumentStatus.READY and document.patient == patient
