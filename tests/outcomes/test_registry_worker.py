"""Registry exports through the real broker and a real worker process: asked for on the page, built by the worker,
downloaded and read back; and one a killed worker left, finished once the sweeper (run by the worker too) sends it
again."""

from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from outcomes import tasks
from outcomes.models import ExportStatus, RegistryExport
from tests.factories import CourseFactory, PatientFactory, closed
from tests.outcomes.registry_helpers import START, csv_dicts, read_package
from treatments.models import CourseStatus, TreatmentCourse

pytestmark = pytest.mark.worker


def export_status(export_id: int) -> str:
    return RegistryExport.objects.values_list("status", flat=True).get(pk=export_id)


def test_an_export_asked_for_on_the_page_is_built_by_the_worker_and_downloads(documents_worker, manager, wait_for):
    patient = PatientFactory(given_name="Zebedee", family_name="Worker-Proof", date_of_birth=START.replace(year=1961))
    completed = CourseFactory(patient=patient, started_on=START)
    TreatmentCourse.objects.filter(pk=completed.pk).update(**closed(CourseStatus.COMPLETED))
    CourseFactory(started_on=START + timedelta(days=3))
    CourseFactory(started_on=START - timedelta(days=1))  # before the period
    client = Client()
    client.force_login(manager)

    response = client.post(reverse("registry:exports"), {"started_from": START.isoformat()})
    assert response.status_code == 302
    [export] = RegistryExport.objects.all()
    wait_for(lambda: export_status(export.pk) == ExportStatus.READY, timeout=90, what="the export to be ready",
             log=documents_worker.log)  # fmt: skip

    export.refresh_from_db()
    assert (export.rows_done, export.rows_total) == (2, 2)
    assert (documents_worker.documents_root / export.file_name).is_file()
    response = client.get(reverse("registry:download", args=[export.pk]))
    assert response.status_code == 200
    package = read_package(response.content)
    rows = sorted(csv_dicts(package["data.csv"]), key=lambda row: row["status"])
    assert [(row["status"], row["closed_day"]) for row in rows] == [("active", ""), ("completed", "0")]
    assert rows[1]["age_band"] == "60-64"  # born on the course's start day, 64 years before
    text = "\n".join(package.values())
    assert "Zebedee" not in text and "Worker-Proof" not in text
    log = documents_worker.log.read_text(errors="replace")
    assert "Zebedee" not in log and "Worker-Proof" not in log  # ids only, in messages and in logs


def test_the_sweeper_has_the_worker_finish_an_export_a_killed_worker_left(documents_worker, manager, wait_for):
    for day in range(3):
        CourseFactory(started_on=START + timedelta(days=day))
    long_ago = timezone.now() - timedelta(hours=1)
    # What a worker killed a third of the way through leaves: RUNNING, claimed long ago, and no message anywhere.
    export = RegistryExport.objects.create(
        requested_by=manager, status=ExportStatus.RUNNING, claimed_at=long_ago, enqueued_at=long_ago, attempts=1,
        rows_done=1, rows_total=3,
    )  # fmt: skip

    tasks.sweep_registry_exports.delay()  # as beat sends it: the worker sweeps, then builds what it sent again
    wait_for(lambda: export_status(export.pk) == ExportStatus.READY, timeout=90, what="the swept export",
             log=documents_worker.log)  # fmt: skip

    export.refresh_from_db()
    assert (export.rows_done, export.rows_total, export.attempts, export.claimed_at) == (3, 3, 2, None)
    with default_storage.open(export.file_name, "rb") as stored:
        assert len(csv_dicts(read_package(stored.read())["data.csv"])) == 3
