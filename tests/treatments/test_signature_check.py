"""A signed note whose stored SHA-256 no longer matches its content (changed in the database by someone able to
switch its triggers off) is flagged to the clinician where it is shown, never rendered into a PDF, and each time
the mismatch is found it is written to the audit trail."""

import pytest
from django.db import connection
from django.urls import reverse

from audit.models import Action
from documents import services as document_services
from documents.models import Document, DocumentStatus
from tests.audit.helpers import events
from tests.documents.conftest import documents_root  # noqa: F401  (autouse: PDFs go to a temporary folder)
from tests.factories import CourseFactory, SessionFactory
from treatments import services

WARNING = 'id="signature-broken"'


@pytest.fixture
def signed(clinician, patient, django_capture_on_commit_callbacks):
    """A note for the patient persona with two sites, signed through the service (its PDFs left pending)."""
    course = CourseFactory(patient=patient, created_by=clinician)
    with django_capture_on_commit_callbacks(execute=False):
        return services.session_sign(session=SessionFactory(course=course, sites=2), by=clinician)


def change_behind_the_triggers(table: str, trigger: str, sql: str, params: list) -> None:
    """What the database's owner can do: switch a signed note's protection off, change it, switch it on."""
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER {trigger}")
        cursor.execute(sql, params)
        cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER {trigger}")


def change_the_notes(session) -> None:
    change_behind_the_triggers(
        "treatments_injectionsession",
        "treatments_signed_session_immutable",
        "UPDATE treatments_injectionsession SET notes = 'Written in afterwards' WHERE id = %s",
        [session.pk],
    )


def change_a_site(session) -> None:
    change_behind_the_triggers(
        "treatments_injectionsite",
        "treatments_signed_site_immutable",
        "UPDATE treatments_injectionsite SET points = points + 1 WHERE id = (SELECT min(id) FROM"
        " treatments_injectionsite WHERE session_id = %s)",
        [session.pk],
    )


def test_an_intact_signed_note_shows_no_warning(clinician_client, signed):
    page = clinician_client.get(reverse("treatments:session", args=[signed.pk])).content.decode()
    assert "Signed" in page
    assert WARNING not in page
    assert events(Action.SIGNED_NOTE_ALTERED) == []


@pytest.mark.parametrize("change", [change_the_notes, change_a_site], ids=["note", "site"])
def test_a_signed_note_changed_in_the_database_is_flagged_and_audited(clinician_client, clinician, signed, change):
    change(signed)
    response = clinician_client.get(reverse("treatments:session", args=[signed.pk]))
    assert response.status_code == 200
    page = response.content.decode()
    assert WARNING in page
    assert "no longer matches the SHA-256 taken when it was signed" in page
    [flagged] = events(Action.SIGNED_NOTE_ALTERED)
    assert flagged.actor == clinician
    assert flagged.patient_id == signed.course.patient_id
    assert (flagged.object_type, flagged.object_id) == ("treatments.injectionsession", str(signed.pk))
    assert flagged.detail == {"shown_in": "session page"}


def test_a_pdf_is_not_rendered_from_an_altered_note(signed, documents_root):  # noqa: F811
    change_the_notes(signed)
    document = Document.objects.filter(session=signed).first()
    assert document_services.document_build(document.pk) is False
    document.refresh_from_db()
    assert document.status == DocumentStatus.FAILED
    assert (
        document.last_error == "Not rendered: the signed note no longer matches the SHA-256 taken when it was signed."
    )
    assert document.file_name == ""
    assert list(documents_root.rglob("*.pdf")) == []
    [flagged] = events(Action.SIGNED_NOTE_ALTERED)
    assert (flagged.object_type, flagged.object_id) == ("treatments.injectionsession", str(signed.pk))
    assert flagged.detail == {"shown_in": "document", "document": document.pk}


def test_a_pdf_of_an_intact_note_is_still_rendered(signed):
    document = Document.objects.filter(session=signed).first()
    assert document_services.document_build(document.pk) is True
    assert events(Action.SIGNED_NOTE_ALTERED) == []
