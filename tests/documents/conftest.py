"""Shared set-up for the document tests: private storage in a temporary folder, a signed session with three
sites and a booked next appointment, and helpers to read PDFs back as text."""

import io
import os
import subprocess
import sys
from datetime import timedelta
from types import SimpleNamespace

import pypdf
import pytest
from django.conf import settings
from django.utils import timezone

from documents.models import Document, DocumentKind
from tests.conftest import start_worker_process
from tests.deployment.processes import wait_until
from tests.factories import CourseFactory, SessionFactory
from tests.scheduling.factories import AppointmentFactory, at
from treatments import services as treatment_services


@pytest.fixture(autouse=True)
def documents_root(tmp_path, settings, monkeypatch):
    """Each test stores PDFs under its own folder; a worker started after this fixture inherits it too."""
    root = tmp_path / "documents"
    root.mkdir()
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(root)}},
    }
    monkeypatch.setenv("DOCUMENTS_ROOT", str(root))
    return root


def pdf_pages(content: bytes) -> list[str]:
    """The text of each page, whitespace collapsed, as a reader (or a screen reader) would get it."""
    reader = pypdf.PdfReader(io.BytesIO(content))
    return [" ".join(page.extract_text().split()) for page in reader.pages]


def pdf_text(content: bytes) -> str:
    return " ".join(pdf_pages(content))


@pytest.fixture
def draft(clinician, patient):
    """A draft note for the patient persona: three sites, treated yesterday by the clinician persona."""
    course = CourseFactory(patient=patient, created_by=clinician)
    return SessionFactory(course=course, sites=3, next_interval_days=7)


@pytest.fixture
def next_visit(draft, clinician):
    starts = at(timezone.localdate() + timedelta(days=6), 10, 30)
    return AppointmentFactory(patient=draft.course.patient, clinician=clinician, starts_at=starts)


@pytest.fixture
def signed(draft, clinician, django_capture_on_commit_callbacks):
    """The draft, signed through the service (its after-commit enqueues are captured and dropped here)."""
    with django_capture_on_commit_callbacks(execute=False):
        return treatment_services.session_sign(session=draft, by=clinician)


def document_of(session, kind: str) -> Document:
    return Document.objects.get(session=session, kind=kind, superseded_at__isnull=True)


@pytest.fixture
def aftercare(signed) -> Document:
    return document_of(signed, DocumentKind.AFTERCARE)


@pytest.fixture
def summary(signed) -> Document:
    return document_of(signed, DocumentKind.VISIT_SUMMARY)


def start_worker(queue: str, log_path, mail_dir) -> subprocess.Popen:
    """A second worker on the same queue and database as the `celery_worker_process` fixture's."""
    process = start_worker_process(queue, log_path, mail_dir)
    wait_until(lambda: b"ready." in log_path.read_bytes(), timeout=60, what="the second worker", log=log_path)
    return process


# The data migrations' own loaders; each is idempotent (get_or_create, or "only if empty").
@pytest.fixture
def documents_worker(documents_root, reference_data, celery_worker_process):
    """The project's worker fixture, started after documents_root so it stores into this test's folder."""
    return SimpleNamespace(**vars(celery_worker_process), documents_root=documents_root)


# Seconds, for the worker and beat this test starts.
QUICK_RECOVERY = {
    "DOCUMENTS_RETRY_BACKOFF": "1",
    "DOCUMENTS_RETRY_BACKOFF_MAX": "2",
    "DOCUMENTS_STALE_AFTER_SECONDS": "3",
    "DOCUMENTS_SWEEP_SECONDS": "1",
    "OUTBOX_RETRY_BACKOFF": "1",
    "OUTBOX_RETRY_BACKOFF_MAX": "2",
    "OUTBOX_RESEND_AFTER_SECONDS": "2",
    "OUTBOX_SWEEP_SECONDS": "1",
}


@pytest.fixture
def quick_recovery(monkeypatch):
    for name, value in QUICK_RECOVERY.items():
        monkeypatch.setenv(name, value)


def start_beat(queue: str, tmp_path) -> subprocess.Popen:
    """`celery beat` sending the project's schedule (the sweepers among it) to `queue`, with this environment."""
    command = [sys.executable, "-m", "celery", "-A", "pit_portal", "beat", "--loglevel", "INFO"]
    command += ["--schedule", str(tmp_path / "beat-schedule")]
    with open(tmp_path / "beat.log", "wb") as log:
        env = {**os.environ, "CELERY_QUEUE": queue}
        return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=settings.BASE_DIR)


@pytest.fixture
def recovering_worker(quick_recovery, documents_worker, tmp_path):
    """The documents worker with quick recovery settings, and celery beat sending the sweepers to its queue."""
    beat = start_beat(documents_worker.queue, tmp_path)
    try:
        yield documents_worker
    finally:
        beat.terminate()
        beat.wait(timeout=30)
