"""The pipeline: rows written with the note, tasks sent after commit, store atomic and idempotent,
bounded retries ending in FAILED, a Retry that works, and a sweeper that finds what the broker lost."""

import hashlib
import os
from datetime import timedelta
from unittest import mock

import pytest
from django.conf import settings
from django.core import mail
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from documents import render, services, storage, tasks
from documents.models import Document, DocumentKind, DocumentStatus
from pit_portal.celery import app
from pit_portal.outbox import tasks as outbox_tasks
from pit_portal.outbox.models import EmailKind, OutboxEmail
from treatments import services as treatment_services


@pytest.fixture
def sent():
    """Messages the code tried to put on the broker: (task name, args, kwargs)."""
    calls = []

    def recorder(name):
        return lambda *args, **kwargs: calls.append((name, args, kwargs))

    with (
        mock.patch.object(tasks.render_document, "delay", side_effect=recorder("render")),
        mock.patch.object(outbox_tasks.send_email, "delay", side_effect=recorder("email")),
    ):
        yield calls


def stored_files(root) -> list[str]:
    return sorted(str(path.relative_to(root)) for path in root.rglob("*") if path.is_file())


def test_signing_writes_two_pending_rows_and_enqueues_their_ids_only_after_commit(
    draft, clinician, sent, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        treatment_services.session_sign(session=draft, by=clinician)
        documents = list(Document.objects.filter(session=draft))
        assert sent == []  # still inside the transaction: the worker could not see the rows yet
    assert sorted(d.kind for d in documents) == sorted(DocumentKind.values)
    assert all(d.status == DocumentStatus.PENDING and d.version == 1 and d.enqueued_at for d in documents)
    assert sorted(sent) == sorted(("render", (d.pk,), {}) for d in documents)  # an id, nothing else


def test_a_rolled_back_signature_enqueues_nothing(draft, clinician, sent, django_capture_on_commit_callbacks):
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        treatment_services.session_sign(session=draft, by=clinician)
        raise RuntimeError("something after signing failed")
    assert callbacks == [] and sent == []
    assert not Document.objects.filter(session=draft).exists()


def test_an_addendum_makes_version_two_and_supersedes_version_one(signed, clinician, sent):
    first = list(Document.objects.filter(session=signed))
    treatment_services.addendum_add(session=signed, text="Bruise noted next day.", by=clinician)
    for old in first:
        old.refresh_from_db()
        assert old.superseded_at is not None
    current = Document.objects.filter(session=signed, superseded_at__isnull=True)
    assert sorted((d.kind, d.version, d.status) for d in current) == [
        (DocumentKind.AFTERCARE, 2, DocumentStatus.PENDING),
        (DocumentKind.VISIT_SUMMARY, 2, DocumentStatus.PENDING),
    ]


def test_task_twice_writes_one_file_one_ready_row_same_checksum(summary, documents_root):
    tasks.render_document.apply(args=[summary.pk])
    summary.refresh_from_db()
    first = (summary.status, summary.file_name, summary.sha256, summary.ready_at, stored_files(documents_root))

    tasks.render_document.apply(args=[summary.pk])
    summary.refresh_from_db()
    assert (summary.status, summary.file_name, summary.sha256, summary.ready_at) == first[:4]
    assert stored_files(documents_root) == first[4] == [summary.file_name]
    with default_storage.open(summary.file_name) as stored:
        content = stored.read()
    assert summary.status == DocumentStatus.READY
    assert hashlib.sha256(content).hexdigest() == summary.sha256
    assert summary.size_bytes == len(content) and summary.page_count >= 1 and summary.attempts == 1


def test_store_leaves_nothing_behind_when_the_move_fails(summary, documents_root, monkeypatch):
    pdf = render.RenderedPdf(content=b"%PDF-1.7 test", page_count=1)

    def broken_replace(source, target):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        storage.store_document(summary.pk, pdf)
    summary.refresh_from_db()
    assert summary.status == DocumentStatus.PENDING and summary.file_name == ""
    assert stored_files(documents_root) == []


def test_store_replaces_a_leftover_file_atomically(summary, documents_root):
    leftover = documents_root / storage.storage_name(summary)
    leftover.parent.mkdir(parents=True)
    leftover.write_bytes(b"half a PDF from a worker that died")
    assert storage.store_document(summary.pk, render.RenderedPdf(content=b"%PDF-1.7 whole", page_count=1))
    assert leftover.read_bytes() == b"%PDF-1.7 whole"
    assert stored_files(documents_root) == [storage.storage_name(summary)]


def test_a_render_error_ends_failed_without_patient_data_and_retry_recovers(summary, clinician, sent, monkeypatch):
    patient_name = summary.patient.full_name
    real_render = render.render_pdf
    monkeypatch.setattr(render, "render_pdf", mock.Mock(side_effect=ValueError(f"bad value for {patient_name}")))

    tasks.render_document.apply(args=[summary.pk])
    summary.refresh_from_db()
    assert summary.status == DocumentStatus.FAILED
    assert summary.attempts == 1  # it would fail the same way again: no retries (test_recovery.py has those)
    assert summary.last_error == "Rendering failed after 1 tries (ValueError)."
    assert patient_name not in summary.last_error

    monkeypatch.setattr(render, "render_pdf", real_render)
    services.document_retry(document=summary, by=clinician)
    summary.refresh_from_db()
    assert (summary.status, summary.attempts, summary.last_error) == (DocumentStatus.PENDING, 0, "")
    tasks.render_document.apply(args=[summary.pk])
    summary.refresh_from_db()
    assert summary.status == DocumentStatus.READY


def test_retry_needs_the_change_permission(summary, front_desk):
    Document.objects.filter(pk=summary.pk).update(status=DocumentStatus.FAILED)
    with pytest.raises(services.PermissionDenied):
        services.document_retry(document=summary, by=front_desk)


def test_a_document_that_keeps_killing_workers_is_failed_not_requeued_for_ever(summary):
    Document.objects.filter(pk=summary.pk).update(attempts=services.MAX_ATTEMPTS)
    tasks.render_document.apply(args=[summary.pk])
    summary.refresh_from_db()
    assert summary.status == DocumentStatus.FAILED and "Gave up" in summary.last_error


def test_sweeper_re_enqueues_only_stale_pending_documents(signed, sent, django_capture_on_commit_callbacks):
    stale, fresh = Document.objects.filter(session=signed).order_by("kind")  # aftercare, visit summary
    Document.objects.filter(pk=stale.pk).update(enqueued_at=timezone.now() - timedelta(minutes=30))

    with django_capture_on_commit_callbacks(execute=True):
        tasks.sweep_pending_documents.apply()
    assert sent == [("render", (stale.pk,), {})]
    stale.refresh_from_db()
    assert stale.enqueued_at > timezone.now() - timedelta(minutes=1)  # not swept again next tick

    sent.clear()
    Document.objects.filter(pk=fresh.pk).update(status=DocumentStatus.FAILED)
    with django_capture_on_commit_callbacks(execute=True):
        tasks.sweep_pending_documents.apply(kwargs={"stale_after_seconds": 0})
    assert sent == [("render", (stale.pk,), {})]  # failed documents wait for a person's Retry


def test_ready_aftercare_emails_a_portal_link_and_nothing_clinical(
    aftercare, summary, sent, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        tasks.render_document.apply(args=[aftercare.pk])
        tasks.render_document.apply(args=[summary.pk])
    owed = OutboxEmail.objects.get(kind=EmailKind.AFTERCARE_READY, object_id=aftercare.session_id)
    assert sent == [("email", (owed.pk,), {})]  # the visit summary sends nothing

    outbox_tasks.send_email.apply(args=[owed.pk])
    [message] = mail.outbox
    assert message.to == [aftercare.patient.email] and message.subject == "Your aftercare sheet is ready"
    assert f"{settings.SITE_URL}/portal/" in message.body
    for site in aftercare.session.sites.select_related("nerve"):
        assert site.nerve.name not in message.body
    assert "Dextrose" not in message.body and aftercare.patient.family_name not in message.body


def test_no_email_without_an_address(aftercare):
    type(aftercare.patient).objects.filter(pk=aftercare.patient_id).update(email="")
    tasks.render_document.apply(args=[aftercare.pk])
    outbox_tasks.send_email.apply(args=[OutboxEmail.objects.get(object_id=aftercare.session_id).pk])
    assert mail.outbox == []


def test_render_task_is_bounded_and_survives_a_lost_worker():
    task = tasks.render_document
    assert task.acks_late and task.reject_on_worker_lost
    visibility = app.conf.broker_transport_options.get("visibility_timeout", 3600)
    assert task.soft_time_limit < task.time_limit < visibility
    assert task.autoretry_for and task.retry_backoff and task.retry_jitter
    assert 0 < task.max_retries <= 10 and task.retry_backoff_max < visibility


def test_each_worker_process_warms_the_renderer_once(monkeypatch):
    warmed = mock.Mock()
    monkeypatch.setattr(render, "warm_up", warmed)
    from celery.signals import worker_process_init

    worker_process_init.send(sender=None)
    warmed.assert_called_once_with()
    assert render._resources() is render._resources()  # fonts and CSS parsed once per process
