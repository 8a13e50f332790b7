"""Faults through the real broker, worker and beat: storage broken for longer than a burst of quick retries,
and a worker killed mid-render, both end with every document READY and nobody acting. Recovery settings are
shortened through the environment the worker and beat inherit; test_recovery.py checks the production ones."""

import time

import pytest

from documents.models import Document, DocumentStatus
from tests.documents.conftest import start_worker
from tests.documents.test_worker import (
    a_task_is_blocked_on_a_document_lock,
    all_ready,
    booked_session,
    kill_worker,
    sign_with_document_rows_locked,
)
from treatments import services as treatment_services

pytestmark = pytest.mark.worker


def test_storage_broken_for_longer_than_quick_retries_ends_ready(recovering_worker, clinician, wait_for):
    root = recovering_worker.documents_root
    root.rename(root.with_name("documents-away"))
    root.write_bytes(b"not a folder: every write of a PDF fails")
    draft, _ = booked_session(clinician)
    treatment_services.session_sign(session=draft, by=clinician)
    try:
        # Longer than a burst of five quick tries (about 15 s) used to last.
        wait_for(lambda: Document.objects.filter(session=draft).exclude(last_error="").count() == 2, timeout=30,
                 what="both documents to fail once", log=recovering_worker.log)  # fmt: skip
        time.sleep(18)
        assert not Document.objects.filter(session=draft, status=DocumentStatus.FAILED).exists()
    finally:
        root.unlink()
        root.with_name("documents-away").rename(root)
    wait_for(lambda: all_ready(draft), timeout=30, what="both documents to be ready", log=recovering_worker.log)


def test_a_killed_worker_s_documents_are_ready_soon_with_nobody_acting(recovering_worker, clinician, wait_for,
                                                                        tmp_path):  # fmt: skip
    draft, _ = booked_session(clinician)
    # Locked right after the commit, before the messages go: the task blocks on the rows, and is killed there.
    locker = sign_with_document_rows_locked(draft, clinician)
    try:
        wait_for(a_task_is_blocked_on_a_document_lock, timeout=60, what="a task to start", log=recovering_worker.log)
        kill_worker(recovering_worker.process)
    finally:
        locker.rollback()
        locker.close()

    killed_at = time.monotonic()
    fresh = start_worker(recovering_worker.queue, tmp_path / "worker2.log", tmp_path / "mail2")
    try:
        # No sweep called here: beat sends it. Stale after 3 s, swept every second, then rendered.
        wait_for(lambda: all_ready(draft), timeout=45, what="the lost documents", log=tmp_path / "worker2.log")
    finally:
        fresh.terminate()
        fresh.wait(timeout=30)
    assert time.monotonic() - killed_at < 45
