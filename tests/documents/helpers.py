"""Documents for other test modules (the URL matrix among them): a signed session's PDFs, pending or ready."""

from documents import tasks
from documents.models import Document, DocumentKind, DocumentStatus
from patients.models import Patient
from tests.factories import CourseFactory, SessionFactory
from treatments import services as treatment_services


def pending_document_for(patient: Patient, kind: str = DocumentKind.AFTERCARE) -> Document:
    """A signed session for `patient` and its pending document of `kind`.

    For tests on the `db` fixture: their transaction never commits, so the render task is never sent."""
    draft = SessionFactory(course=CourseFactory(patient=patient), sites=1)
    signed = treatment_services.session_sign(session=draft, by=draft.clinician)
    return Document.objects.get(session=signed, kind=kind)


def ready_document_for(patient: Patient, kind: str = DocumentKind.AFTERCARE) -> Document:
    """As pending_document_for, rendered and stored in this process (private storage, as configured)."""
    document = pending_document_for(patient, kind)
    tasks.render_document.apply(args=[document.pk])
    document.refresh_from_db()
    assert document.status == DocumentStatus.READY
    return document
