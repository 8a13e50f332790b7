"""FHIR bulk exports through the real broker and a real worker process: asked for on the page, built in runs handed
on through the broker, every file downloaded and every line parsed by fhir.resources; and one a killed worker left,
resumed once the sweeper (run by the worker too) sends it again."""

from collections import Counter
from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audit.models import Action, AuditEvent
from interop import tasks
from interop.bulk import services
from interop.models import BulkExport
from outcomes.models import ExportStatus
from tests.interop.bulk_helpers import ndjson_lines, parsed, patients_with_records

pytestmark = pytest.mark.worker


@pytest.fixture
def small_runs(monkeypatch) -> None:
    """Chunks of two patients and runs of one chunk each, for the worker started after this fixture: every chunk is
    a run of its own, handed on through the broker."""
    monkeypatch.setenv("FHIR_BULK_CHUNK_PATIENTS", "2")
    monkeypatch.setenv("FHIR_BULK_SLICE_SECONDS", "0")


def export_status(export_id: int) -> str:
    return BulkExport.objects.values_list("status", flat=True).get(pk=export_id)


def test_an_export_asked_for_on_the_page_is_built_by_the_worker_and_every_line_parses(
    small_runs, documents_worker, manager, wait_for
):
    patients = patients_with_records(5)
    client = Client()
    client.force_login(manager)

    assert client.post(reverse("interop:bulk_exports")).status_code == 302
    [export] = BulkExport.objects.all()
    wait_for(lambda: export_status(export.pk) == ExportStatus.READY, timeout=120, what="the export to be ready",
             log=documents_worker.log)  # fmt: skip

    export.refresh_from_db()
    assert (export.patients_done, export.patients_total, export.chunks_done, export.run) == (5, 5, 3, 4)
    page = client.get(reverse("interop:bulk_export", args=[export.pk])).content.decode()
    types = Counter()
    for export_file in export.files.all():
        assert f"{export_file.resource_type}.ndjson" in page
        response = client.get(reverse("interop:bulk_export_file", args=[export.pk, export_file.resource_type]))
        assert response.status_code == 200
        lines = ndjson_lines(b"".join(response.streaming_content))
        assert len(lines) == export_file.count
        for resource in parsed(lines):  # every line a valid R4B resource of the file's type
            types[resource.get_resource_type()] += 1
        assert set(types) >= {export_file.resource_type}
    assert types == Counter(export.counts)
    assert types["Patient"] == 5
    assert {"Observation", "Procedure", "QuestionnaireResponse", "Consent"} <= set(types)
    manifest = client.get(reverse("interop:bulk_export_manifest", args=[export.pk])).json()
    assert {entry["type"]: entry["count"] for entry in manifest["output"]} == export.counts
    downloads = AuditEvent.objects.filter(action=Action.EXPORT, detail__stage="downloaded")
    assert downloads.count() == len(export.counts)
    log = documents_worker.log.read_text(errors="replace")
    assert not any(patient.family_name in log for patient in patients)  # ids only, in messages and in logs


def test_the_sweeper_has_the_worker_resume_an_export_a_killed_worker_left(
    small_runs, documents_worker, manager, wait_for
):
    patients = patients_with_records(3)
    export = BulkExport.objects.create(requested_by=manager, enqueued_at=timezone.now())
    services.export_build(export.pk, slice_seconds=0)  # one chunk done here; its hand-on goes nowhere (no commit)
    long_ago = timezone.now() - timedelta(hours=1)
    # What a worker killed while writing the second chunk leaves: RUNNING, its claim still, a part without its row.
    BulkExport.objects.filter(pk=export.pk).update(status=ExportStatus.RUNNING, claimed_at=long_ago, enqueued_at=None)
    leftover = f"{services.folder(export.pk)}/parts/run2-chunk000001-Patient.ndjson"
    default_storage.save(leftover, ContentFile(b'{"resourceType":"Patient","id":"patient-left-behind"}\n'))

    tasks.sweep_bulk_exports.delay()  # as beat sends it: the worker sweeps, then resumes what it sent again
    wait_for(lambda: export_status(export.pk) == ExportStatus.READY, timeout=120, what="the swept export",
             log=documents_worker.log)  # fmt: skip

    export.refresh_from_db()
    assert (export.patients_done, export.attempts, export.claimed_at) == (3, 1, None)
    patient_file = export.files.get(resource_type="Patient")
    with default_storage.open(patient_file.file_name, "rb") as stored:
        ids = [line["id"] for line in ndjson_lines(stored.read())]
    assert ids == [f"patient-{patient.pk}" for patient in patients]
    assert not default_storage.exists(leftover)
