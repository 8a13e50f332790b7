"""Registry exports as background work and through the managers' pages: asked for (and audited) in one
transaction, built once with its progress shown, stored whole or not at all, sent again by the sweeper when a
worker died, downloaded only by managers and only when ready."""

import hashlib
from datetime import datetime, timedelta

import pytest
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from audit.models import Action, AuditEvent
from documents.storage import StorageUnavailable
from outcomes import tasks
from outcomes.models import ExportStatus, RegistryExport
from outcomes.registry import dataset, services
from pit_portal.celery import app
from tests.factories import CourseFactory
from tests.outcomes.registry_helpers import START, csv_dicts, read_package, ready_registry_export

EXPORTS = reverse("registry:exports")


@pytest.fixture
def sent(monkeypatch) -> list[int]:
    """The ids the build task is sent with (after the commit), instead of the broker."""
    ids: list[int] = []
    monkeypatch.setattr(tasks.build_registry_export, "delay", ids.append)
    return ids


def courses(count: int) -> list[int]:
    return [CourseFactory(started_on=START + timedelta(days=day)).pk for day in range(count)]


def export_events() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=Action.EXPORT).order_by("pk"))


def new_export(manager, **fields) -> RegistryExport:
    return RegistryExport.objects.create(requested_by=manager, **{"enqueued_at": timezone.now(), **fields})


# --- Asking for one --------------------------------------------------------------------------------------------


def test_asking_for_an_export_owes_it_audits_it_and_sends_it_after_the_commit(
    manager_client, manager, sent, django_capture_on_commit_callbacks
):
    courses(3)
    CourseFactory(started_on=START - timedelta(days=1))  # before the period
    with django_capture_on_commit_callbacks(execute=True):
        response = manager_client.post(EXPORTS, {"started_from": START.isoformat(), "started_to": "2025-12-31"})
    assert response.status_code == 302 and response["Location"] == EXPORTS
    [export] = RegistryExport.objects.all()
    assert (export.status, export.requested_by, export.started_from, export.started_to.isoformat()) == (
        ExportStatus.PENDING, manager, START, "2025-12-31",
    )  # fmt: skip
    assert sent == [export.pk]
    [event] = export_events()
    assert event.patient_id is None and event.actor == manager and event.object_id == str(export.pk)
    assert event.detail == {
        "export": "registry",
        "stage": "requested",
        "period": {"from": START.isoformat(), "to": "2025-12-31"},
        "courses": 3,
    }
    assert "registry" in manager_client.get(reverse("audit:events")).content.decode()  # shown in the audit report


@pytest.mark.parametrize(
    ("period", "field", "message"),
    [
        ({"started_from": "2025-07-01", "started_to": "2025-06-30"}, "started_to", "before its start"),
        ({"started_from": "2025-13-01"}, "started_from", "Enter a valid date"),
        ({"started_to": "31/02/2025"}, "started_to", "Enter a valid date"),
        ({"started_from": "1899-12-31"}, "started_from", "from 01/01/1900 on"),
        ({"started_from": (timezone.localdate() + timedelta(days=1)).isoformat()}, "started_from", "after today"),
    ],
)
def test_a_period_that_makes_no_sense_is_a_400_with_its_message_and_nothing_owed(
    manager_client, sent, django_capture_on_commit_callbacks, period, field, message
):
    with django_capture_on_commit_callbacks(execute=True):
        response = manager_client.post(EXPORTS, period)
    assert response.status_code == 400
    assert message in " ".join(response.context["form"].errors[field])
    assert message in response.content.decode()
    assert not RegistryExport.objects.exists() and not export_events() and sent == []


def test_a_second_export_while_the_first_is_unfinished_is_a_409(manager_client, manager, sent):
    first = new_export(manager)
    response = manager_client.post(EXPORTS, {})
    assert response.status_code == 409
    assert "still being prepared" in response.content.decode()
    assert list(RegistryExport.objects.all()) == [first]
    RegistryExport.objects.filter(pk=first.pk).update(status=ExportStatus.FAILED, error="Gave up.")
    assert manager_client.post(EXPORTS, {}).status_code == 302  # once it is finished, the next one is owed


@pytest.mark.parametrize("role", ["clinician", "front_desk", "patient", "outsider"])
def test_only_managers_may_ask_for_an_export(db, request, role, sent):
    response = request.getfixturevalue(f"{role}_client").post(EXPORTS, {})
    assert response.status_code == 403
    assert not RegistryExport.objects.exists() and not export_events()


# --- Building it -----------------------------------------------------------------------------------------------


def test_progress_moves_batch_by_batch_and_reaches_the_total(manager, monkeypatch):
    courses(5)
    export = new_export(manager)
    monkeypatch.setattr(dataset, "BATCH_SIZE", 2)
    seen: list[tuple[int, int | None]] = []
    progress = services._progress

    def watched(claim, done):
        progress(claim, done)
        seen.append(RegistryExport.objects.values_list("rows_done", "rows_total").get(pk=export.pk))

    monkeypatch.setattr(services, "_progress", watched)
    assert services.export_build(export.pk) is True
    assert seen == [(2, 5), (4, 5), (5, 5)]
    export.refresh_from_db()
    assert (export.status, export.rows_done, export.rows_total, export.attempts) == (ExportStatus.READY, 5, 5, 1)
    assert export.progress == "5 of 5 courses"
    with default_storage.open(export.file_name, "rb") as stored:
        content = stored.read()
    assert export.file_name == f"registry/registry-export-{export.pk}.zip"
    assert (export.size_bytes, export.sha256) == (len(content), hashlib.sha256(content).hexdigest())
    assert len(csv_dicts(read_package(content)["data.csv"])) == 5


def test_the_progress_row_shows_how_far_it_has_got_and_polls_only_while_unfinished(manager_client, manager):
    export = new_export(manager, status=ExportStatus.RUNNING, claimed_at=timezone.now(), rows_done=1200,
                        rows_total=3400)  # fmt: skip
    row = manager_client.get(reverse("registry:progress", args=[export.pk])).content.decode()
    assert "Registry export: 1,200 of 3,400 courses" in row
    assert 'hx-trigger="every 2s"' in row and "Download" not in row
    RegistryExport.objects.filter(pk=export.pk).update(status=ExportStatus.FAILED, claimed_at=None, error="Gave up.")
    row = manager_client.get(reverse("registry:progress", args=[export.pk])).content.decode()
    assert "hx-trigger" not in row and "Gave up." in row


def test_a_run_whose_claim_was_taken_over_stops_and_stores_nothing(manager, monkeypatch):
    courses(2)
    export = new_export(manager)
    monkeypatch.setattr(dataset, "BATCH_SIZE", 1)
    progress = services._progress

    def taken_over(claim, done):
        # Meanwhile the sweeper gave the export to another run, which claimed it.
        RegistryExport.objects.filter(pk=export.pk).update(claimed_at=timezone.now() + timedelta(seconds=1))
        progress(claim, done)

    monkeypatch.setattr(services, "_progress", taken_over)
    assert services.export_build(export.pk) is False
    export.refresh_from_db()
    assert export.status == ExportStatus.RUNNING and not export.file_name
    assert not default_storage.exists("registry")


def test_a_store_that_fails_leaves_the_export_pending_never_ready_half_written(manager, monkeypatch):
    courses(1)
    export = new_export(manager)

    def store_down(*args, **kwargs):
        raise StorageUnavailable("the document store did not answer (EndpointConnectionError)")

    monkeypatch.setattr(services, "write_atomically", store_down)
    with pytest.raises(StorageUnavailable):
        services.export_build(export.pk)
    export.refresh_from_db()
    assert (export.status, export.claimed_at, export.file_name) == (ExportStatus.PENDING, None, "")
    assert export.error == "Stopped (StorageUnavailable); it will be tried again."


def test_an_error_that_will_not_clear_fails_the_export_with_its_kind_only(manager, monkeypatch):
    courses(1)
    export = new_export(manager)

    def broken(*args, **kwargs):
        raise ValueError("Philippa Quigley-Ashdown")

    monkeypatch.setattr(dataset, "write_package", broken)
    tasks.build_registry_export.apply(args=[export.pk])
    export.refresh_from_db()
    assert (export.status, export.error) == (ExportStatus.FAILED, "Preparing the export failed (ValueError).")


def test_a_message_sent_twice_builds_it_once(manager):
    courses(1)
    export = new_export(manager)
    assert services.export_build(export.pk) is True
    assert services.export_build(export.pk) is False
    export.refresh_from_db()
    assert export.attempts == 1


# --- The sweeper -----------------------------------------------------------------------------------------------


def stale() -> datetime:
    return timezone.now() - timedelta(seconds=settings.REGISTRY_EXPORT_STALE_AFTER_SECONDS + 60)


def test_the_sweeper_finishes_an_export_a_killed_worker_left(manager, sent, django_capture_on_commit_callbacks):
    courses(3)
    # The worker died with a third of it written: the row still says RUNNING, claimed long ago.
    export = new_export(manager, status=ExportStatus.RUNNING, claimed_at=stale(), enqueued_at=stale(), attempts=1,
                        rows_done=1, rows_total=3)  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        assert services.exports_sweep() == [export.pk]
    assert sent == [export.pk]
    export.refresh_from_db()
    assert (export.status, export.claimed_at) == (ExportStatus.PENDING, None)

    assert services.export_build(export.pk) is True
    export.refresh_from_db()
    assert (export.status, export.rows_done, export.rows_total, export.attempts) == (ExportStatus.READY, 3, 3, 2)
    with default_storage.open(export.file_name, "rb") as stored:
        assert len(csv_dicts(read_package(stored.read())["data.csv"])) == 3


def test_the_sweeper_leaves_alone_a_run_still_working_and_an_export_just_asked_for(manager, sent):
    working = new_export(manager, status=ExportStatus.RUNNING, claimed_at=timezone.now(), rows_total=3)
    assert services.exports_sweep() == []
    assert services.export_build(working.pk) is False  # a second message: the live claim is not doubled
    RegistryExport.objects.filter(pk=working.pk).update(status=ExportStatus.PENDING, claimed_at=None)
    assert services.exports_sweep() == []  # sent a moment ago: its message is still on its way
    RegistryExport.objects.filter(pk=working.pk).update(enqueued_at=stale())
    assert services.exports_sweep() == [working.pk]  # a lost message


def test_an_export_that_kills_its_worker_every_time_is_failed_after_max_attempts(manager):
    export = new_export(manager, attempts=services.MAX_ATTEMPTS)
    assert services.export_build(export.pk) is False
    export.refresh_from_db()
    assert export.status == ExportStatus.FAILED and "Gave up after 5 attempts" in export.error


def test_beat_runs_the_sweeper():
    entry = settings.CELERY_BEAT_SCHEDULE["sweep-registry-exports"]
    assert entry["task"] == tasks.sweep_registry_exports.name and entry["task"] in app.tasks
    assert entry["schedule"] == timedelta(seconds=settings.REGISTRY_EXPORT_SWEEP_SECONDS)
    assert settings.REGISTRY_EXPORT_STALE_AFTER_SECONDS > tasks.EXPORT_HARD_TIME_LIMIT


# --- Downloading it --------------------------------------------------------------------------------------------


def test_a_manager_downloads_a_ready_export_and_the_download_is_audited(manager_client, manager):
    courses(2)
    export = ready_registry_export(started_from=START)
    response = manager_client.get(reverse("registry:download", args=[export.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip" and response["Cache-Control"] == "no-store"
    requested_on = timezone.localdate(export.requested_at).isoformat()
    assert response["Content-Disposition"] == f'attachment; filename="registry-export-{requested_on}-{export.pk}.zip"'
    assert len(csv_dicts(read_package(response.content)["data.csv"])) == 2
    [event] = [event for event in export_events() if event.detail["stage"] == "downloaded"]
    assert event.actor == manager and event.patient_id is None and event.object_id == str(export.pk)
    assert event.detail == {
        "export": "registry",
        "stage": "downloaded",
        "period": {"from": START.isoformat(), "to": None},
        "rows": 2,
        "sha256": export.sha256,
    }


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({}, "not ready yet"),
        ({"status": ExportStatus.RUNNING, "claimed_at": timezone.now, "rows_done": 3, "rows_total": 8}, "3 of 8"),
        ({"status": ExportStatus.FAILED, "error": "Gave up after 5 attempts."}, "Gave up after 5 attempts."),
    ],
)
def test_an_export_not_ready_is_a_409_saying_why_and_nothing_is_recorded(manager_client, manager, fields, says):
    fields = {name: value() if callable(value) else value for name, value in fields.items()}
    export = new_export(manager, **fields)
    response = manager_client.get(reverse("registry:download", args=[export.pk]))
    assert response.status_code == 409 and response["Cache-Control"] == "no-store"
    assert says in response.content.decode()
    assert not export_events()


def test_an_export_that_does_not_exist_is_a_404(manager_client):
    assert manager_client.get(reverse("registry:download", args=[987654321])).status_code == 404
    assert manager_client.get(reverse("registry:progress", args=[987654321])).status_code == 404


def test_a_stored_file_altered_is_not_sent_and_the_export_is_failed(manager_client, manager):
    export = ready_registry_export()
    with default_storage.open(export.file_name, "wb") as stored:
        stored.write(b"PK not the zip that was made")
    response = manager_client.get(reverse("registry:download", args=[export.pk]))
    assert response.status_code == 410 and "Ask for a new export" in response.content.decode()
    export.refresh_from_db()
    assert export.status == ExportStatus.FAILED
    assert not [event for event in export_events() if event.detail.get("stage") == "downloaded"]


@pytest.mark.parametrize("role", ["clinician", "front_desk", "patient", "outsider"])
def test_nobody_but_a_manager_downloads_an_export(db, request, role):
    export = ready_registry_export()
    response = request.getfixturevalue(f"{role}_client").get(reverse("registry:download", args=[export.pk]))
    assert response.status_code in (403, 404)
    assert not [event for event in export_events() if event.detail.get("stage") == "downloaded"]


def _list_queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(EXPORTS).status_code == 200
    return len(queries)


def test_the_list_page_reads_the_same_queries_whatever_the_number_of_exports(warm_worker, manager_client, manager):
    ready_registry_export()
    one = _list_queries(manager_client)
    for _ in range(4):
        ready_registry_export()
    new_export(manager, status=ExportStatus.RUNNING, claimed_at=timezone.now(), rows_total=9)
    page = manager_client.get(EXPORTS).content.decode()
    assert page.count("Download zip") == 5 and "Registry export: 0 of 9 courses" in page
    assert _list_queries(manager_client) == one
