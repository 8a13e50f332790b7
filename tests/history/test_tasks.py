"""Writes made by Celery tasks carry the task's name and id in the history, and nothing else."""

import pghistory
import pytest
from pghistory.runtime import _tracker

from documents import tasks
from documents.models import Document, DocumentKind, DocumentStatus
from tests.factories import CourseFactory, PatientFactory, SessionFactory
from tests.history.helpers import context_of, events_of
from treatments import services as treatment_services

RENDER_TASK = "documents.tasks.render_document"


@pytest.fixture
def documents_root(tmp_path, settings, monkeypatch):
    """Rendered PDFs go to a folder of this test's own, in this process and in a worker started after it."""
    root = tmp_path / "documents"
    root.mkdir()
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(root)}},
    }
    monkeypatch.setenv("DOCUMENTS_ROOT", str(root))
    return root


def signed_session(clinician):
    draft = SessionFactory(course=CourseFactory(patient=PatientFactory(), created_by=clinician), sites=1)
    return treatment_services.session_sign(session=draft, by=clinician)


def test_a_task_run_here_records_its_name_and_id(documents_root, clinician, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):  # no broker: the test runs the task itself
        signed = signed_session(clinician)
    document = Document.objects.get(session=signed, kind=DocumentKind.AFTERCARE)

    result = tasks.render_document.apply(args=[document.pk])

    document.refresh_from_db()
    assert document.status == DocumentStatus.READY
    updates = events_of(document, "update")
    assert updates and updates[-1].status == DocumentStatus.READY
    assert {tuple(sorted(context_of(e))) for e in updates} == {("task", "task_id")}  # ids only, no arguments
    assert {context_of(e)["task"] for e in updates} == {RENDER_TASK}
    assert {context_of(e)["task_id"] for e in updates} == {result.id}
    assert not hasattr(_tracker, "value")  # the task's context ended with it


def test_a_task_run_inside_a_request_keeps_the_requests_context(
    documents_root, clinician, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        signed = signed_session(clinician)
    document = Document.objects.get(session=signed, kind=DocumentKind.AFTERCARE)

    with pghistory.context(user=clinician.pk, url="/sessions/1/sign/"):
        tasks.render_document.apply(args=[document.pk])
        assert hasattr(_tracker, "value")  # the request's context is still open

    assert {tuple(sorted(context_of(e).items())) for e in events_of(document, "update")} == {
        (("url", "/sessions/1/sign/"), ("user", clinician.pk))
    }


@pytest.mark.worker
def test_a_real_worker_records_its_writes_as_the_task(
    documents_root, reference_data, celery_worker_process, clinician, wait_for
):
    signed = signed_session(clinician)  # commits, then sends one render message per document

    def rendered() -> bool:
        statuses = set(Document.objects.filter(session=signed).values_list("status", flat=True))
        return statuses == {DocumentStatus.READY}

    wait_for(rendered, timeout=90, what="the documents to render", log=celery_worker_process.log)
    for document in Document.objects.filter(session=signed):
        contexts = [context_of(e) for e in events_of(document, "update")]
        assert contexts and all(c["task"] == RENDER_TASK and c["task_id"] for c in contexts), document.kind
