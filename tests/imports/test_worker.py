"""An import through the pages, the real broker and a real worker: checked, previewed, imported, reported."""

import pytest
from django.test import Client
from django.urls import reverse

from imports.models import CsvImport, ImportStatus
from patients.models import Patient
from tests.imports.helpers import CLINIKO_PATIENTS, cliniko_patient, csv_bytes, map_columns, uploaded

pytestmark = pytest.mark.worker


def status_of(import_id: int) -> str:
    return CsvImport.objects.values_list("status", flat=True).get(pk=import_id)


def test_a_file_is_checked_and_imported_by_the_worker(reference_data, celery_worker_process, manager, wait_for):
    client = Client()
    client.force_login(manager)
    rows = [cliniko_patient(f"w{i}", f"Worker{i}", "Proof", "01/02/1960") for i in range(30)]
    rows.append(cliniko_patient("bad", "No", "Date", "99/99/1960"))
    csv_import = uploaded(client, csv_bytes(CLINIKO_PATIENTS, rows))
    assert map_columns(client, csv_import).status_code == 302
    log = celery_worker_process.log
    wait_for(lambda: status_of(csv_import.pk) == ImportStatus.CHECKED, timeout=90, what="the check", log=log)
    progress = client.get(reverse("imports:progress", args=[csv_import.pk]))
    assert progress["HX-Refresh"] == "true"  # finished: the page reloads into the preview
    page = client.get(reverse("imports:detail", args=[csv_import.pk])).content.decode()
    assert "<strong>30</strong> will be made; <strong>1</strong> will be skipped" in page

    assert client.post(reverse("imports:confirm", args=[csv_import.pk])).status_code == 302
    wait_for(lambda: status_of(csv_import.pk) == ImportStatus.DONE, timeout=90, what="the import", log=log)
    csv_import.refresh_from_db()
    assert (csv_import.created_count, csv_import.skipped_count) == (30, 1)
    assert Patient.objects.filter(family_name="Proof").count() == 30
    assert "Proof" not in log.read_text(errors="replace")  # ids only, in messages and in logs
