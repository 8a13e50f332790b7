"""Documents recover by themselves from what may clear (a storage or database blip, a killed worker), and only what
cannot succeed ends FAILED for a person. These tests run the task eagerly; test_worker_recovery.py runs the same
faults through the real broker and worker."""

import runpy
from datetime import timedelta
from pathlib import Path
from unittest import mock

from celery.exceptions import TimeLimitExceeded
from django.conf import settings
from django.db import OperationalError
from django.utils import timezone

from documents import render, services, storage, tasks
from documents.models import Document, DocumentStatus
from pit_portal.celery import app


def test_a_storage_outage_leaves_the_document_pending_for_the_sweeper_not_failed(summary, monkeypatch):
    monkeypatch.setattr(storage, "write_atomically", mock.Mock(side_effect=PermissionError("storage unavailable")))
    tasks.render_document.apply(args=[summary.pk])  # eagerly: every retry of the round runs at once

    summary.refresh_from_db()
    assert summary.status == DocumentStatus.PENDING
    assert summary.attempts == tasks.MAX_RETRIES + 1
    assert "PermissionError" in summary.last_error and "unavailable" not in summary.last_error
    assert summary.claimed_at is None
    # Its round of retries is spent: the sweeper leaves it for the longest retry wait, then sends it again.
    assert services.documents_sweep() == []
    late = timezone.now() - services.stale_after() - services.retry_wait() - timedelta(seconds=1)
    Document.objects.filter(pk=summary.pk).update(enqueued_at=late)
    assert services.documents_sweep() == [summary.pk]

    monkeypatch.undo()
    tasks.render_document.apply(args=[summary.pk])
    summary.refresh_from_db()
    assert summary.status == DocumentStatus.READY and summary.last_error == ""


def test_a_database_blip_is_retried_and_ends_ready(summary, monkeypatch):
    real_render = render.render_pdf
    blips = iter([OperationalError("server closed the connection"), OperationalError("the database is starting")])

    def render_after_blips(*args):
        error = next(blips, None)
        if error is not None:
            raise error
        return real_render(*args)

    monkeypatch.setattr(render, "render_pdf", render_after_blips)
    tasks.render_document.apply(args=[summary.pk])
    summary.refresh_from_db()
    assert (summary.status, summary.attempts) == (DocumentStatus.READY, 3)


def test_an_error_that_cannot_clear_fails_at_once_with_its_reason(summary, monkeypatch):
    patient_name = summary.patient.full_name
    monkeypatch.setattr(render, "render_pdf", mock.Mock(side_effect=ValueError(f"bad value for {patient_name}")))
    tasks.render_document.apply(args=[summary.pk])

    summary.refresh_from_db()
    assert (summary.status, summary.attempts) == (DocumentStatus.FAILED, 1)
    assert summary.last_error == "Rendering failed after 1 tries (ValueError)."
    assert summary.pk not in services.documents_sweep(older_than=timedelta(0))  # a person's Retry, not the sweeper


def test_a_document_being_rendered_is_neither_swept_nor_rendered_twice(summary):
    Document.objects.filter(pk=summary.pk).update(
        claimed_at=timezone.now(), enqueued_at=timezone.now() - timedelta(hours=1)
    )
    assert services.documents_sweep() == []
    assert services.document_build(summary.pk) is False  # a second message for it does nothing
    summary.refresh_from_db()
    assert (summary.status, summary.attempts) == (DocumentStatus.PENDING, 0)


def test_a_document_whose_run_died_is_swept_once_stale(summary):
    died = timezone.now() - services.stale_after() - timedelta(seconds=1)
    Document.objects.filter(pk=summary.pk).update(claimed_at=died, enqueued_at=died)
    assert services.documents_sweep() == [summary.pk]
    assert services.document_build(summary.pk) is True


def test_production_defaults_recover_a_killed_worker_within_three_minutes(monkeypatch, tmp_path):
    stale, sweep = settings.DOCUMENTS_STALE_AFTER_SECONDS, settings.DOCUMENTS_SWEEP_SECONDS
    # A run still rendering is never taken for a dead one: the hard time limit stops it before it looks stale.
    assert stale > tasks.HARD_TIME_LIMIT
    # Claimed just before the kill: stale after `stale`, swept at the next tick, rendered within the hard limit.
    assert stale + sweep + tasks.HARD_TIME_LIMIT <= 180
    [schedule] = [
        entry for entry in app.conf.beat_schedule.values() if entry["task"].endswith("sweep_pending_documents")
    ]
    assert schedule["schedule"] == timedelta(seconds=sweep)
    # Redis (production's broker, whatever this run uses) re-delivers an unacknowledged message only after the
    # longest retry wait and a whole run.
    monkeypatch.setenv("PIT_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("CELERY_BROKER_URL", "redis://broker.example:6379/0")
    production = runpy.run_path(str(Path(settings.BASE_DIR) / "pit_portal" / "settings.py"))
    visibility = production["CELERY_BROKER_TRANSPORT_OPTIONS"]["visibility_timeout"]
    assert visibility > tasks.RETRY_BACKOFF_MAX + tasks.HARD_TIME_LIMIT


def test_production_defaults_retry_a_transient_outage_for_at_least_half_an_hour():
    task = tasks.render_document
    assert task.retry_jitter and set(tasks.TRANSIENT_ERRORS) <= set(task.autoretry_for)
    caps = [min(task.retry_backoff_max, task.retry_backoff * 2**n) for n in range(task.max_retries)]
    # Full jitter draws each wait from [0, cap]: one round is expected to span half the caps' sum.
    assert sum(caps) / 2 >= 30 * 60
    # However short the draws, a spent round waits for the sweeper (stale + longest retry wait) before the next,
    # and the attempt budget allows three rounds: two such gaps alone span more than half an hour.
    rounds = services.MAX_ATTEMPTS // (task.max_retries + 1)
    gap = services.stale_after() + services.retry_wait()
    assert rounds >= 3 and (rounds - 1) * gap >= timedelta(minutes=30)


def test_a_render_stopped_by_the_hard_time_limit_is_left_to_the_sweeper(summary):
    Document.objects.filter(pk=summary.pk).update(attempts=1, claimed_at=timezone.now())
    task = tasks.render_document
    task.on_failure(TimeLimitExceeded(60), "task-id", (summary.pk,), {}, None)  # as the worker reports it
    summary.refresh_from_db()
    assert (summary.status, summary.claimed_at) == (DocumentStatus.PENDING, None)
    assert "TimeLimitExceeded" in summary.last_error
