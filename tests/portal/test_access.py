"""Only patients use the portal, and each patient reaches only their own appointments and documents."""

import logging
import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse
from django.utils import timezone

from documents.models import DocumentDownload, DocumentStatus
from portal.models import CheckIn
from scheduling.models import AppointmentStatus
from tests.factories import PatientFactory
from tests.portal.helpers import in_days, make_appointment, make_document

PAGES = ["portal:home", "portal:documents", "portal:contact", "portal:consent"]
STAFF_AND_OUTSIDERS = ["clinician", "front_desk", "manager", "outsider"]


def without_csrf(content: bytes) -> bytes:
    return re.sub(rb'("X-CSRFToken": "|name="csrfmiddlewaretoken" value=")[^"]*', rb"\1", content)


def object_urls(appointment, document) -> list[str]:
    return [
        reverse("portal:appointment_ics", kwargs={"pk": appointment.pk}),
        reverse("portal:appointment_cancel", kwargs={"pk": appointment.pk}),
        reverse("portal:check_in", kwargs={"pk": appointment.pk}),
        reverse("portal:document_download", kwargs={"pk": document.pk}),
    ]


@pytest.fixture
def theirs(other_patient, document_storage):
    """Patient B's appointment in three days and their aftercare sheet."""
    return make_appointment(other_patient, in_days(3)), make_document(other_patient)


@pytest.mark.parametrize("name", PAGES)
def test_anonymous_visitor_is_sent_to_sign_in(client, name):
    url = reverse(name)
    response = client.get(url)
    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert location.path == reverse("login")
    assert parse_qs(location.query)["next"] == [url]


@pytest.mark.parametrize("role", STAFF_AND_OUTSIDERS)
@pytest.mark.parametrize("name", PAGES)
def test_staff_and_outsiders_are_refused_portal_pages(request, role, name):
    client = request.getfixturevalue(f"{role}_client")
    assert client.get(reverse(name)).status_code == 403


@pytest.mark.parametrize("role", STAFF_AND_OUTSIDERS)
def test_staff_cannot_open_a_patients_portal_objects(request, role, patient, document_storage):
    client = request.getfixturevalue(f"{role}_client")
    for url in object_urls(make_appointment(patient, in_days(3)), make_document(patient)):
        assert client.get(url).status_code == 403, url


def test_patient_user_without_a_linked_record_gets_a_clear_refusal(patient_client):
    response = patient_client.get(reverse("portal:home"))
    assert response.status_code == 403
    assert "not linked to your records" in response.content.decode()


def test_other_patients_objects_answer_exactly_like_missing_ones(patient_client, patient, theirs):
    appointment, document = theirs
    for url in object_urls(appointment, document):
        theirs_response = patient_client.get(url)
        missing = patient_client.get(
            url.replace(f"/{appointment.pk}/", "/999999/").replace(f"/{document.pk}/", "/999999/")
        )
        assert theirs_response.status_code == missing.status_code == 404, url
        assert without_csrf(theirs_response.content) == without_csrf(missing.content)


def test_patient_cannot_cancel_or_check_in_for_someone_else(patient_client, patient, theirs):
    appointment, _ = theirs
    cancel = reverse("portal:appointment_cancel", kwargs={"pk": appointment.pk})
    assert patient_client.post(cancel, {"reason": "Not mine to cancel"}).status_code == 404
    check_in = reverse("portal:check_in", kwargs={"pk": appointment.pk})
    assert patient_client.post(check_in, {"nrs_now": "3"}).status_code == 404
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.BOOKED
    assert not CheckIn.objects.filter(appointment=appointment).exists()


def test_patient_cannot_download_someone_elses_document(patient_client, patient, theirs):
    _, document = theirs
    response = patient_client.get(reverse("portal:document_download", kwargs={"pk": document.pk}))
    assert response.status_code == 404
    assert not DocumentDownload.objects.exists()


def test_refused_guesses_are_logged_with_ids_only(patient_client, patient_user, patient, theirs, caplog):
    appointment, document = theirs
    with caplog.at_level(logging.WARNING, logger="portal.access"):
        for url in object_urls(appointment, document):
            patient_client.get(url)
    messages = [record.getMessage() for record in caplog.records if record.name == "portal.access"]
    assert messages == [
        f"portal: refused appointment {appointment.pk} for user {patient_user.pk}",
        f"portal: refused appointment {appointment.pk} for user {patient_user.pk}",
        f"portal: refused appointment {appointment.pk} for user {patient_user.pk}",
        f"portal: refused document {document.pk} for user {patient_user.pk}",
    ]
    assert all(appointment.patient.family_name not in message for message in messages)


def test_a_superseded_version_of_ones_own_is_listed_as_such_and_still_downloadable(
    patient_client, patient, document_storage
):
    replaced_at = timezone.now() - timedelta(hours=2)
    superseded = make_document(patient, superseded_at=replaced_at)
    current = make_document(patient)
    page = patient_client.get(reverse("portal:documents")).content.decode()

    items = dict(re.findall(r'<li [^>]*data-document="(\d+)"[^>]*>(.*?)</li>', page, re.S))
    assert reverse("portal:document_download", kwargs={"pk": superseded.pk}) in items[str(superseded.pk)]
    assert f"Replaced on {timezone.localtime(replaced_at):%-d %B %Y} by a newer version" in items[str(superseded.pk)]
    assert "Replaced" not in items[str(current.pk)]
    assert patient_client.get(reverse("portal:document_download", kwargs={"pk": superseded.pk})).status_code == 200
    home = patient_client.get(reverse("portal:home")).content.decode()
    assert "You have 1 document from your visits" in home  # the versions in use, not every version


def test_a_document_still_being_prepared_is_not_offered(patient_client, patient, document_storage):
    pending = make_document(patient, status=DocumentStatus.PENDING)
    ready = make_document(patient)
    page = patient_client.get(reverse("portal:documents")).content.decode()
    assert reverse("portal:document_download", kwargs={"pk": ready.pk}) in page
    assert reverse("portal:document_download", kwargs={"pk": pending.pk}) not in page


def test_patient_downloads_their_own_aftercare_sheet(patient_client, patient_user, patient, document_storage):
    document = make_document(patient)
    response = patient_client.get(reverse("portal:document_download", kwargs={"pk": document.pk}))
    assert response.status_code == 200
    assert response.content.startswith(b"%PDF")
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["Cache-Control"] == "no-store"
    assert DocumentDownload.objects.get().user == patient_user


def test_documents_page_lists_only_ones_own(patient_client, patient, theirs, django_assert_max_num_queries):
    mine = [make_document(patient), make_document(patient, kind="visit_summary")]
    _, their_document = theirs
    PatientFactory()  # a third patient with nothing
    # Session, user, roles, own record, permissions (2), the documents rule's own patient lookup, the list:
    # the same for two documents as for twenty.
    with django_assert_max_num_queries(8):
        page = patient_client.get(reverse("portal:documents"))
    html = page.content.decode()
    assert page.status_code == 200
    for document in mine:
        assert reverse("portal:document_download", kwargs={"pk": document.pk}) in html
    assert reverse("portal:document_download", kwargs={"pk": their_document.pk}) not in html
    assert "Aftercare sheet" in html and "Visit summary" in html
