"""A name that is a spreadsheet formula is kept as typed (it is the patient's data, and the portal's pages escape
it), and is neutralised in every CSV the portal writes that can hold a patient's name or free text."""

import csv
import io

import pytest
from django.urls import reverse

from audit.exports import FORMULA_PREFIXES
from patients.models import Patient
from tests.factories import CourseFactory
from tests.imports.helpers import CLINIKO_PATIENTS, checked, cliniko_patient, csv_bytes, imported, uploaded
from tests.safety.helpers import signed_batch

pytestmark = pytest.mark.django_db

GIVEN, FAMILY = '=HYPERLINK("http://x","click")', "@SUM(A1:A9)"


def cells(response) -> list[list[str]]:
    assert response.status_code == 200 and response["Content-Type"] == "text/csv; charset=utf-8"
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))[1:]


def assert_no_live_formula(rows: list[list[str]]) -> None:
    live = [cell for row in rows for cell in row if cell.startswith(FORMULA_PREFIXES)]
    assert live == [], f"cells a spreadsheet would run: {live}"


def test_an_imported_formula_name_is_neutralised_in_every_csv(manager_client, clinician_client, clinician):
    rows = [cliniko_patient("f1", GIVEN, FAMILY, "01/02/1960", Notes="-2 +1 see notes"),
            cliniko_patient("f2", "+44", "-Minus", "31/02/1960")]  # fmt: skip
    upload = uploaded(manager_client, csv_bytes(CLINIKO_PATIENTS, rows))
    csv_import = imported(manager_client, checked(manager_client, upload))
    patient = Patient.objects.get(family_name=FAMILY)
    assert patient.given_name == GIVEN  # stored as typed
    signed_batch(CourseFactory(patient=patient, created_by=clinician), 1, lot="HX-1", clinician=clinician, events=1)

    report = cells(manager_client.get(reverse("imports:report_csv", args=[csv_import.pk])))
    assert [row[1] for row in report] == [f"'{GIVEN} {FAMILY}, born 01/02/1960", "'+44 -Minus, born 31/02/1960"]
    recall = cells(clinician_client.get(reverse("treatments:lot_recall_csv"), {"lot": "HX-1"}))
    assert recall[0][0] == f"'{FAMILY}, {GIVEN}"  # surname first, as the recall list reads
    events = cells(manager_client.get(reverse("safety:log_csv")))
    assert events[0][1] == f"'{GIVEN} {FAMILY}"
    trail = cells(manager_client.get(reverse("audit:export")))
    disclosures = cells(manager_client.get(reverse("audit:disclosures_export", args=[patient.pk])))
    outcomes = cells(manager_client.get(reverse("outcomes:report_export")))
    for written in (report, recall, events, trail, disclosures, outcomes):
        assert_no_live_formula(written)
    # The pages show it as text, never as markup.
    page = manager_client.get(reverse("imports:detail", args=[csv_import.pk])).content.decode()
    assert "=HYPERLINK(&quot;http://x&quot;,&quot;click&quot;)" in page
