"""DOCUMENT_RENDERED written by a real Celery worker: once per document, however often the task runs."""

import re

import pytest

from audit.models import Action, Source
from audit.services import verify_chain
from documents import tasks
from documents.models import Document, DocumentStatus
from tests.audit.helpers import events
from tests.factories import CourseFactory, PatientFactory, SessionFactory
from treatments import services as treatment_services

pytestmark = pytest.mark.worker


def renders_finished(log) -> int:
    return len(re.findall(rb"Task documents\.tasks\.render_document\[[^\]]+\] succeeded", log.read_bytes()))


def test_the_worker_records_each_rendered_document_once(audit_worker, clinician, wait_for):
    patient = PatientFactory()
    draft = SessionFactory(course=CourseFactory(patient=patient, created_by=clinician), sites=2)
    treatment_services.session_sign(session=draft, by=clinician)  # commits, then one message per document
    documents = Document.objects.filter(session=draft)

    def rendered_events() -> list:
        return events(Action.DOCUMENT_RENDERED, patient=patient)

    wait_for(lambda: len(rendered_events()) == 2, timeout=90, what="two DOCUMENT_RENDERED events", log=audit_worker.log)
    assert set(documents.values_list("status", flat=True)) == {DocumentStatus.READY}
    assert {event.object_id for event in rendered_events()} == {
        str(pk) for pk in documents.values_list("pk", flat=True)
    }
    assert all(event.source == Source.TASK and event.actor is None for event in rendered_events())

    # A redelivered message: the worker finds the documents ready and writes nothing more.
    for document in documents:
        tasks.render_document.delay(document.pk)
    wait_for(lambda: renders_finished(audit_worker.log) == 4, timeout=60, what="the re-runs", log=audit_worker.log)
    assert len(rendered_events()) == 2
    assert verify_chain().intact
