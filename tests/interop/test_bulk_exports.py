"""FHIR bulk exports in this process and through the managers' pages: asked for (and audited) in one transaction,
built chunk by chunk in patient id order, handed on and resumed, never marked ready half-written, its files
downloaded only by managers, checked and audited."""

import hashlib
from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import reverse
from django.utils import timezone

from audit.models import Action, AuditEvent
from documents.storage import StorageUnavailable
from interop import tasks
from interop.bulk import services
from interop.models import BulkExport, BulkExportFile, BulkExportPart
from outcomes.models import ExportStatus
from tests.factories import PatientFactory
from tests.interop.bulk_helpers import (
    build_in_process,
    ndjson_lines,
    parsed,
    patients_with_records,
    ready_bulk_export,
    stored_lines,
)

EXPORTS = reverse("interop:bulk_exports")


@pytest.fixture
def sent(monkeypatch) -> list[int]:
    """The ids the build task is sent with (after the commit), instead of the broker."""
    ids: list[int] = []
    monkeypatch.setattr(tasks.build_bulk_export, "delay", ids.append)
    return ids


@pytest.fixture
def chunks_of_two(settings) -> None:
    settings.FHIR_BULK_CHUNK_PATIENTS = 2


def new_export(manager, **fields) -> BulkExport:
    return BulkExport.objects.create(requested_by=manager, **{"enqueued_at": timezone.now(), **fields})


def export_events() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=Action.EXPORT).order_by("pk"))


def patient_ids(lines: list[dict]) -> list[str]:
    return [line["id"] for line in lines]


# --- Asking for one --------------------------------------------------------------------------------------------


def test_asking_for_an_export_owes_it_audits_it_and_sends_it_after_the_commit(
    manager_client, manager, sent, django_capture_on_commit_callbacks
):
    PatientFactory.create_batch(3)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = manager_client.post(EXPORTS)
        assert sent == []  # not before the commit
    [export] = BulkExport.objects.all()
    assert response.status_code == 302 and response["Location"] == reverse("interop:bulk_export", args=[export.pk])
    for callback in callbacks:
        callback()
    assert sent == [export.pk]
    assert (export.status, export.requested_by) == (ExportStatus.PENDING, manager)
    [event] = export_events()
    assert event.patient_id is None and event.actor == manager and event.object_id == str(export.pk)
    assert event.detail == {"export": "fhir-bulk", "stage": "requested", "patients": 3}


def test_a_second_export_while_one_is_unfinished_is_refused_with_a_409(manager_client, manager, sent):
    new_export(manager, status=ExportStatus.RUNNING, claimed_at=timezone.now())
    response = manager_client.post(EXPORTS)
    assert response.status_code == 409
    assert "already being prepared" in response.content.decode()
    assert BulkExport.objects.count() == 1 and export_events() == []


@pytest.mark.parametrize("persona", ["clinician_client", "front_desk_client", "patient_client", "outsider_client"])
def test_only_managers_see_or_ask_for_exports(request, persona, manager, sent):
    client = request.getfixturevalue(persona)
    PatientFactory()
    export = ready_bulk_export()
    assert client.get(EXPORTS).status_code == 403
    assert client.post(EXPORTS).status_code == 403
    assert client.get(reverse("interop:bulk_export", args=[export.pk])).status_code == 403
    [export_file] = export.files.filter(resource_type="Patient")
    url = reverse("interop:bulk_export_file", args=[export.pk, export_file.resource_type])
    assert client.get(url).status_code == 403
    assert BulkExport.objects.count() == 1 and sent == []


def test_signed_out_visitors_are_sent_to_sign_in(client):
    response = client.get(EXPORTS)
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


# --- Building one ----------------------------------------------------------------------------------------------


def test_an_export_writes_every_patient_once_in_id_order_one_file_per_type(manager, chunks_of_two):
    patients = patients_with_records(5)
    export = build_in_process(new_export(manager))

    assert export.status == ExportStatus.READY
    assert (export.patients_done, export.patients_total, export.chunks_done) == (5, 5, 3)
    files = stored_lines(export)
    assert patient_ids(files["Patient"]) == [f"patient-{patient.pk}" for patient in patients]
    for resource_type, lines in files.items():
        assert {line["resourceType"] for line in lines} == {resource_type}
        parsed(lines)  # each line is a valid R4B resource of its type
        ids = patient_ids(lines)
        assert len(ids) == len(set(ids)), f"{resource_type} has a resource twice"
    # The clinician every record names is written once, though the records are in three chunks.
    clinician = patients[0].courses.get().created_by
    assert patient_ids(files["Practitioner"]).count(f"practitioner-{clinician.pk}") == 1
    rows = {f.resource_type: f for f in export.files.all()}
    assert {t: rows[t].count for t in rows} == {t: len(lines) for t, lines in files.items()} == export.counts
    for export_file in rows.values():
        with default_storage.open(export_file.file_name, "rb") as stored:
            content = stored.read()
        assert (hashlib.sha256(content).hexdigest(), len(content)) == (export_file.sha256, export_file.size_bytes)
    assert not BulkExportPart.objects.exists()
    assert default_storage.listdir(f"{services.folder(export.pk)}/parts") == ([], [])  # the parts are deleted


def test_patients_registered_after_the_export_started_are_not_in_it(manager, chunks_of_two):
    first = patients_with_records(3)
    export = new_export(manager)
    assert services.export_build(export.pk, slice_seconds=0) is services.Outcome.HANDED_ON
    PatientFactory()  # registered while the export is under way
    export = build_in_process(export)
    assert patient_ids(stored_lines(export)["Patient"]) == [f"patient-{patient.pk}" for patient in first]


def test_a_run_hands_the_export_on_when_its_time_is_up_and_the_next_resumes_it(
    manager, chunks_of_two, sent, django_capture_on_commit_callbacks
):
    patients_with_records(5)
    export = new_export(manager)

    with django_capture_on_commit_callbacks(execute=True):
        assert services.export_build(export.pk, slice_seconds=0) is services.Outcome.HANDED_ON
    export.refresh_from_db()
    assert (export.status, export.claimed_at, export.patients_done, export.chunks_done) == (
        ExportStatus.PENDING, None, 2, 1,
    )  # fmt: skip
    assert export.progress == "2 of 5 patients"
    assert sent == [export.pk]  # sent again, for the next run
    assert not export.files.exists()

    export = build_in_process(export, slice_seconds=0)
    assert export.status == ExportStatus.READY and export.run == 4 and export.attempts == 0  # 3 chunks, then the files
    assert len(stored_lines(export)["Patient"]) == 5


def test_an_export_with_no_patients_is_ready_with_no_files(manager):
    export = build_in_process(new_export(manager))
    assert (export.status, export.patients_total, list(export.files.all())) == (ExportStatus.READY, 0, [])


# --- Interrupted -----------------------------------------------------------------------------------------------


def dead_run(export: BulkExport) -> None:
    """What a worker killed after its first chunk leaves: RUNNING, its claim long still, no message anywhere, and
    the half-stored leftovers of the chunk it was writing."""
    long_ago = timezone.now() - timedelta(hours=1)
    BulkExport.objects.filter(pk=export.pk).update(status=ExportStatus.RUNNING, claimed_at=long_ago, enqueued_at=None)
    folder = services.folder(export.pk)
    leftover = b'{"resourceType":"Patient","id":"patient-left-behind"}\n'
    default_storage.save(f"{folder}/parts/run1-chunk000001-Patient.ndjson", ContentFile(leftover))
    default_storage.save(f"{folder}/Patient.ndjson.0123abcd.partial", ContentFile(leftover))


def test_an_export_a_killed_worker_left_is_swept_and_resumed_after_its_last_chunk(
    manager, chunks_of_two, sent, django_capture_on_commit_callbacks
):
    patients = patients_with_records(5)
    export = new_export(manager)
    services.export_build(export.pk, slice_seconds=0)  # the first chunk is done, and the export sent on
    assert services.exports_sweep() == []  # sent a moment ago: not lost
    first_parts = set(BulkExportPart.objects.values_list("file_name", flat=True))
    dead_run(export)

    with django_capture_on_commit_callbacks(execute=True):
        assert services.exports_sweep() == [export.pk]
    export.refresh_from_db()
    assert (export.status, export.claimed_at, export.attempts, export.patients_done) == (
        ExportStatus.PENDING, None, 1, 2,
    )  # fmt: skip
    assert sent == [export.pk]
    # The next run resumes after the chunk done: it writes the other chunks only, under its own run's names.
    services.export_build(export.pk, slice_seconds=0)
    assert set(BulkExportPart.objects.values_list("file_name", flat=True)) > first_parts
    export = build_in_process(export)

    assert export.status == ExportStatus.READY
    lines = stored_lines(export)["Patient"]
    assert patient_ids(lines) == [f"patient-{patient.pk}" for patient in patients]  # no leftover, nothing twice
    assert default_storage.listdir(f"{services.folder(export.pk)}/parts") == ([], [])
    stored = default_storage.listdir(services.folder(export.pk))[1]
    assert sorted(stored) == sorted(f"{resource_type}.ndjson" for resource_type in export.counts)


def test_a_run_that_finds_its_claim_still_moving_does_nothing(manager):
    PatientFactory()
    export = new_export(manager, status=ExportStatus.RUNNING, claimed_at=timezone.now(), run=1)
    assert services.export_build(export.pk) is services.Outcome.NOTHING
    export.refresh_from_db()
    assert (export.status, export.run, export.patients_done) == (ExportStatus.RUNNING, 1, 0)


def test_a_run_whose_export_was_taken_over_records_nothing(manager, chunks_of_two, monkeypatch):
    patients_with_records(3)
    export = new_export(manager)
    real_write = services.write_atomically

    def taken_over_while_writing(*args, **kwargs):
        # The sweeper gives the export to another run while this one stores its first part.
        BulkExport.objects.filter(pk=export.pk).update(run=99, claimed_at=timezone.now())
        return real_write(*args, **kwargs)

    monkeypatch.setattr(services, "write_atomically", taken_over_while_writing)
    assert services.export_build(export.pk) is services.Outcome.NOTHING
    export.refresh_from_db()
    assert (export.run, export.patients_done, export.counts) == (99, 0, {})
    assert not BulkExportPart.objects.exists()


def test_a_store_failing_while_the_files_are_joined_leaves_it_unready_and_the_next_run_finishes(
    manager, chunks_of_two, monkeypatch
):
    patients_with_records(3)
    export = new_export(manager)
    real_write = services.write_atomically
    joined: list[str] = []

    def store_fails_on_the_second_file(storage, name, content):
        if "/parts/" not in name:
            joined.append(name)
            if len(joined) == 2:
                raise StorageUnavailable("the document store did not answer (ConnectTimeoutError)")
        return real_write(storage, name, content)

    monkeypatch.setattr(services, "write_atomically", store_fails_on_the_second_file)
    with pytest.raises(StorageUnavailable):
        services.export_build(export.pk)
    export.refresh_from_db()
    assert (export.status, export.attempts, export.patients_done) == (ExportStatus.PENDING, 1, 3)
    assert "it will be resumed" in export.error
    assert not BulkExportFile.objects.exists()  # one file stored whole is still not a ready export

    monkeypatch.setattr(services, "write_atomically", real_write)
    export = build_in_process(export)
    assert export.status == ExportStatus.READY and len(stored_lines(export)["Patient"]) == 3


def test_a_damaged_part_restarts_the_export_from_its_first_patient(manager, chunks_of_two, sent):
    patients = patients_with_records(3)
    export = new_export(manager)
    services.export_build(export.pk, slice_seconds=0)
    part = BulkExportPart.objects.get(resource_type="Patient", chunk=0)
    with default_storage.open(part.file_name, "wb") as stored:
        stored.write(b'{"resourceType":"Patient","id":"altered"}\n')

    export = build_in_process(export)
    assert export.status == ExportStatus.READY and export.error == ""
    assert patient_ids(stored_lines(export)["Patient"]) == [f"patient-{patient.pk}" for patient in patients]


def test_an_export_that_keeps_killing_its_worker_is_failed_with_the_reason(manager):
    long_ago = timezone.now() - timedelta(hours=1)
    export = new_export(manager, status=ExportStatus.RUNNING, claimed_at=long_ago, attempts=services.MAX_ATTEMPTS - 1)
    assert services.export_build(export.pk) is services.Outcome.NOTHING
    export.refresh_from_db()
    assert export.status == ExportStatus.FAILED and "Gave up after" in export.error


# --- The pages -------------------------------------------------------------------------------------------------


def test_the_export_page_shows_progress_and_polls_while_unfinished(manager_client, manager, chunks_of_two):
    patients_with_records(3)
    export = new_export(manager)
    services.export_build(export.pk, slice_seconds=0)
    page = manager_client.get(reverse("interop:bulk_export", args=[export.pk])).content.decode()
    progress = reverse("interop:bulk_export_progress", args=[export.pk])
    assert "2 of 3 patients" in page and f'hx-get="{progress}"' in page
    fragment = manager_client.get(progress).content.decode()
    assert "2 of 3 patients" in fragment and "hx-trigger" in fragment

    build_in_process(export)
    fragment = manager_client.get(progress).content.decode()
    assert "hx-trigger" not in fragment and "3 of 3 patients" in fragment
    assert reverse("interop:bulk_export_file", args=[export.pk, "Patient"]) in fragment


def test_a_file_downloads_whole_for_a_manager_and_is_audited(manager_client, manager):
    patients_with_records(2)
    export = ready_bulk_export()
    export_file = export.files.get(resource_type="Patient")
    response = manager_client.get(reverse("interop:bulk_export_file", args=[export.pk, "Patient"]))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/fhir+ndjson"
    assert "attachment" in response["Content-Disposition"] and "Patient.ndjson" in response["Content-Disposition"]
    content = b"".join(response.streaming_content)
    assert hashlib.sha256(content).hexdigest() == export_file.sha256
    assert len(ndjson_lines(content)) == export_file.count == 2
    [event] = export_events()
    assert event.actor == manager and event.patient_id is None and event.object_id == str(export.pk)
    assert event.detail == {
        "export": "fhir-bulk", "stage": "downloaded", "type": "Patient", "resources": 2, "sha256": export_file.sha256,
    }  # fmt: skip


def test_an_altered_file_is_refused_and_the_export_failed(manager_client, manager):
    PatientFactory()
    export = ready_bulk_export()
    export_file = export.files.get(resource_type="Patient")
    with default_storage.open(export_file.file_name, "wb") as stored:
        stored.write(b'{"resourceType":"Patient","id":"altered"}\n')
    response = manager_client.get(reverse("interop:bulk_export_file", args=[export.pk, "Patient"]))
    assert response.status_code == 410 and "missing or no longer the one" in response.content.decode()
    export.refresh_from_db()
    assert export.status == ExportStatus.FAILED and export_events() == []


def test_a_store_that_does_not_answer_is_a_503_not_damage(manager_client, manager, monkeypatch):
    PatientFactory()
    export = ready_bulk_export()

    def unavailable(export_file):
        raise StorageUnavailable("the document store did not answer (EndpointConnectionError)")

    monkeypatch.setattr(services, "file_verified", unavailable)
    response = manager_client.get(reverse("interop:bulk_export_file", args=[export.pk, "Patient"]))
    assert response.status_code == 503 and response["Retry-After"]
    export.refresh_from_db()
    assert export.status == ExportStatus.READY


def test_a_file_of_an_unfinished_export_or_of_no_type_is_refused(manager_client, manager):
    export = new_export(manager)
    response = manager_client.get(reverse("interop:bulk_export_file", args=[export.pk, "Patient"]))
    assert response.status_code == 409 and "not ready yet" in response.content.decode()
    assert manager_client.get(reverse("interop:bulk_export_manifest", args=[export.pk])).status_code == 409
    PatientFactory()
    export = build_in_process(export)
    assert manager_client.get(reverse("interop:bulk_export_file", args=[export.pk, "Medication"])).status_code == 404
    assert manager_client.get(f"{EXPORTS}{export.pk}/Patient.json").status_code == 404


def test_the_manifest_lists_each_file_with_its_type_address_and_count(manager_client, manager):
    patients_with_records(2)
    export = ready_bulk_export()
    response = manager_client.get(reverse("interop:bulk_export_manifest", args=[export.pk]))
    assert response.status_code == 200
    manifest = response.json()
    assert manifest["transactionTime"] == export.transaction_time.isoformat()
    assert manifest["requiresAccessToken"] is True and manifest["error"] == []
    files = {f.resource_type: f for f in export.files.all()}
    assert [entry["type"] for entry in manifest["output"]] == sorted(files)
    for entry in manifest["output"]:
        assert entry["count"] == files[entry["type"]].count
        address = reverse("interop:bulk_export_file", args=[export.pk, entry["type"]])
        assert entry["url"] == f"http://testserver{address}"


def exports_with_files(manager, count: int) -> None:
    for _ in range(count):
        export = new_export(manager, status=ExportStatus.FAILED, error="x")
        BulkExportFile.objects.create(
            export=export, resource_type="Patient", file_name="x", sha256="0" * 64, size_bytes=1, count=1
        )


@pytest.mark.parametrize("exports", [1, 6])
def test_the_list_and_export_pages_read_a_fixed_number_of_queries(
    manager_client, manager, warm_worker, django_assert_max_num_queries, exports
):
    PatientFactory()
    export = ready_bulk_export()
    exports_with_files(manager, exports)
    with django_assert_max_num_queries(9):
        assert manager_client.get(EXPORTS).status_code == 200
    with django_assert_max_num_queries(8):
        assert manager_client.get(reverse("interop:bulk_export", args=[export.pk])).status_code == 200
