"""A patients file: the preview lists every row's problems, the import makes what it promised (and nothing twice,
and nothing at all when it fails part-way), and the report says so row by row."""

from datetime import date, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.models import Action, AuditEvent
from imports import services
from imports.models import CsvImport, ImportedPatient, ImportStatus
from patients.models import Intake, Patient
from tests.factories import PatientFactory
from tests.imports.helpers import (
    CLINIKO_PATIENTS,
    checked,
    cliniko_patient,
    csv_bytes,
    dmy,
    imported,
    map_columns,
    problems_by_row,
    uploaded,
)

pytestmark = pytest.mark.django_db

IN_A_YEAR = dmy(date.today() + timedelta(days=365))


@pytest.fixture
def registered():
    return PatientFactory(given_name="Ruth", family_name="Okafor", date_of_birth=date(1961, 4, 9),
                          phone="+447911123457", email="ruth@example.org")  # fmt: skip


# Each row, and what the preview must say of it: None for a row that will be made, else words its problems hold.
ROWS = [
    (cliniko_patient("c1", "Ann", "Lee", "02/03/1970", Email="ann@example.org", Mobile="07911 123456"), None),
    (cliniko_patient("c2", "Bob", "Ray", "31/02/1980"), ["Date of birth “31/02/1980” is not a date"]),
    (cliniko_patient("c3", "Cat", "Day", IN_A_YEAR), ["Date of birth cannot be in the future."]),
    (cliniko_patient("c4", "Dan", "Eve", "01/01/1899"), ["Date of birth must be on or after 01/01/1900."]),
    (cliniko_patient("c5", "Eve", "", "05/05/1975"), ["Family name: This field is required."]),
    (cliniko_patient("c6", "ruth", " OKAFOR", "09/04/1961"), ["May be a patient already registered", "same name"]),
    (cliniko_patient("c7", "Other", "Person", "01/01/1990", Mobile="+44 7911 123457"), ["same phone number"]),
    (cliniko_patient("c8", "Fay", "Gun", "06/06/1966", Email="not-an-email"), ["Email: Enter a valid email"]),
    (cliniko_patient("c9", "ANN", "lee", "02/03/1970"), ["The same person as row 2 of this file."]),
    (cliniko_patient("c1", "Gil", "Hay", "07/07/1977"), ["The same person as row 2 of this file."]),
    (cliniko_patient("c11", "Hal", "Ivy", "08/08/1988", Sex="Dragon"), ["Sex “Dragon” is not one the portal"]),
    (cliniko_patient("c12", '=HYPERLINK("http://x","click")', "+1", "09/09/1999"), None),
    (cliniko_patient("c13", "Ivo", "Jay", "10/10/1950", Mobile="call me"), ["Phone: Enter a valid phone number"]),
    (["c14", "", "Short", "Row"], ["Has 4 cells where the header names 14 columns"]),
    (cliniko_patient("c15", "Jo", "Kim", "1990-12-01", Notes="Prefers mornings"), None),
]


def file_of(rows=ROWS) -> bytes:
    return csv_bytes(CLINIKO_PATIENTS, [row for row, _ in rows])


def test_the_preview_lists_every_row_with_each_of_its_problems(manager_client, registered):
    csv_import = checked(manager_client, uploaded(manager_client, file_of()))
    assert csv_import.status == ImportStatus.CHECKED
    found = problems_by_row(csv_import)
    assert sorted(found) == list(range(2, len(ROWS) + 2))
    for number, (_, expected) in enumerate(ROWS, start=2):
        text = " ".join(found[number])
        if expected is None:
            assert found[number] == [], (number, found[number])
        else:
            assert all(words in text for words in expected), (number, found[number])
    assert registered.clinic_number in " ".join(found[7])
    skipped = sum(1 for _, expected in ROWS if expected)
    assert (csv_import.to_create, csv_import.to_skip) == (len(ROWS) - skipped, skipped)
    page = manager_client.get(reverse("imports:detail", args=[csv_import.pk])).content.decode()
    assert f"<strong>{len(ROWS) - skipped}</strong> will be made" in page
    assert "Date of birth “31/02/1980” is not a date written day/month/year." in page
    assert not Patient.objects.exclude(pk=registered.pk).exists()  # a preview makes nothing


def test_the_import_makes_the_rows_that_passed_and_the_report_matches_the_file(manager_client, registered):
    csv_import = imported(manager_client, checked(manager_client, uploaded(manager_client, file_of())))
    expected_made = [row for row, problems in ROWS if problems is None]
    assert csv_import.status == ImportStatus.DONE
    assert (csv_import.created_count, csv_import.skipped_count) == (len(expected_made), len(ROWS) - len(expected_made))
    made = Patient.objects.exclude(pk=registered.pk)
    assert sorted(made.values_list("given_name", flat=True)) == sorted(row[2] for row in expected_made)
    hostile = made.get(family_name="+1")
    assert hostile.given_name == '=HYPERLINK("http://x","click")'  # kept as typed: neutralised where written out
    assert Intake.objects.get(patient__given_name="Jo").notes == "Prefers mornings"
    assert set(ImportedPatient.objects.values_list("external_id", flat=True)) == {"c1", "c12", "c15"}
    report = {row.number: row for row in csv_import.rows.select_related("patient")}
    for number, (row, problems) in enumerate(ROWS, start=2):
        assert (report[number].patient is not None) == (problems is None)
        if problems is None:
            assert report[number].patient.given_name == row[2]
            assert report[number].patient.clinic_number.startswith("PIT-")
    [event] = AuditEvent.objects.filter(action=Action.IMPORT, detail__stage="imported")
    assert event.detail["created"] == len(expected_made) and event.detail["sha256"] == csv_import.sha256
    assert bytes(csv_import.content) == b""  # the file's personal data is not kept once imported


def test_the_same_file_imported_twice_makes_nothing_new(manager_client, registered):
    imported(manager_client, checked(manager_client, uploaded(manager_client, file_of())))
    patients = Patient.objects.count()
    again = checked(manager_client, uploaded(manager_client, file_of()))
    assert again.to_create == 0
    assert all("Already imported: Cliniko id c" in " ".join(p) for n, p in problems_by_row(again).items() if n in
               (2, 13, 16))  # fmt: skip
    page = manager_client.get(reverse("imports:detail", args=[again.pk])).content.decode()
    assert 'id="import-seen-before"' in page
    # Imported anyway (the button is disabled, the service does what it is asked): nothing is made.
    services.import_confirm(csv_import=again, by=again.uploaded_by)
    assert services.import_run(again.pk)
    again.refresh_from_db()
    assert (again.status, again.created_count) == (ImportStatus.DONE, 0)
    assert Patient.objects.count() == patients


def test_a_failure_part_way_through_keeps_nothing(manager_client, registered, monkeypatch):
    csv_import = checked(manager_client, uploaded(manager_client, file_of()))
    manager_client.post(reverse("imports:confirm", args=[csv_import.pk]))

    def broken(*args, **kwargs):
        raise RuntimeError("the disk filled up")

    # After the patients and their intakes are written, before their imported ids are.
    monkeypatch.setattr(ImportedPatient.objects, "bulk_create", broken)
    with pytest.raises(RuntimeError):
        services.import_run(csv_import.pk)
    assert list(Patient.objects.values_list("pk", flat=True)) == [registered.pk]
    assert not Intake.objects.exclude(patient=registered).exists()
    csv_import.refresh_from_db()
    assert (csv_import.status, csv_import.claimed_at) == (ImportStatus.IMPORTING, None)  # owed again
    monkeypatch.undo()
    assert services.import_run(csv_import.pk)
    csv_import.refresh_from_db()
    assert csv_import.status == ImportStatus.DONE and csv_import.attempts == 2


def test_the_sweeper_sends_again_an_import_a_dead_worker_held(manager_client):
    csv_import = uploaded(manager_client, file_of(ROWS[:1]))
    assert map_columns(manager_client, csv_import).status_code == 302
    held = CsvImport.objects.filter(pk=csv_import.pk)
    held.update(claimed_at=timezone.now(), attempts=1)  # a run working now
    assert services.import_run(csv_import.pk) is False  # a message sent twice runs once
    assert services.imports_sweep() == []
    held.update(claimed_at=timezone.now() - timedelta(hours=1))  # a run that died an hour ago
    assert services.imports_sweep() == [csv_import.pk]
    assert held.get().claimed_at is None
    assert services.import_run(csv_import.pk)
    csv_import.refresh_from_db()
    assert (csv_import.status, csv_import.to_create, csv_import.attempts) == (ImportStatus.CHECKED, 1, 2)


def test_the_preview_and_report_pages_run_a_fixed_number_of_queries(
    manager_client, warm_worker, django_assert_max_num_queries
):
    small = checked(manager_client, uploaded(manager_client, file_of(ROWS[:2])))
    many = [(cliniko_patient(f"n{i}", f"Name{i}", "Many", "01/01/1980"), None) for i in range(150)]
    large = imported(manager_client, checked(manager_client, uploaded(manager_client, file_of(many))))
    for csv_import in (small, large):
        for url in (reverse("imports:detail", args=[csv_import.pk]), reverse("imports:list")):
            with django_assert_max_num_queries(12):
                assert manager_client.get(url).status_code == 200


def test_beat_runs_the_import_sweeper():
    from datetime import timedelta as seconds

    from django.conf import settings

    from imports import tasks
    from pit_portal.celery import app

    entry = settings.CELERY_BEAT_SCHEDULE["sweep-imports"]
    assert entry["task"] == tasks.sweep_imports.name and entry["task"] in app.tasks
    assert entry["schedule"] == seconds(seconds=settings.IMPORTS_SWEEP_SECONDS)
    assert settings.IMPORTS_STALE_AFTER_SECONDS > tasks.HARD_TIME_LIMIT
