"""The registry's data set: a seeded course's row, worked out by hand; nothing that identifies a patient anywhere in
the zip; a data dictionary naming every column; a batch's queries the same whatever its size."""

import re
from datetime import date

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from outcomes.registry import dataset
from outcomes.registry.dataset import age_band
from patients.models import Condition
from tests.factories import CourseFactory, PatientFactory
from tests.outcomes.registry_helpers import (
    START,
    csv_dicts,
    read_package,
    ready_registry_export,
    seed_discontinued_course,
    seed_formula_patient_course,
)
from treatments.models import TreatmentCourse


def package_of_export(export) -> dict[str, str]:
    from django.core.files.storage import default_storage

    with default_storage.open(export.file_name, "rb") as stored:
        return read_package(stored.read())


@pytest.fixture
def seeded(clinician):
    return seed_discontinued_course(clinician), seed_formula_patient_course(clinician)


def test_the_row_of_a_seeded_course_holds_exactly_its_de_identified_values(seeded):
    package = package_of_export(ready_registry_export())
    rows = csv_dicts(package["data.csv"])
    assert len(rows) == 2
    [row] = [row for row in rows if row["status"] == "discontinued"]
    row_id = row.pop("row_id")
    assert re.fullmatch(r"[0-9a-f]{16}", row_id)
    assert row == {
        # Born 11/03/1975, the course started 10/03/2025: 49, the day before a birthday.
        "age_band": "45-49",
        "sex": "male",
        "condition": "Low back pain",
        "status": "discontinued",
        "stop_reason": "adverse_event",
        "closed_day": "40",
        "signed_sessions": "3",  # the draft does not count, nor its nerve or its adverse event
        "nerves": "greater-occipital-nerve;lesser-occipital-nerve;supraorbital-nerve",
        "baseline_nrs": "8",
        "end_nrs": "4",  # the review on day 38 is newer than the last signed session (day 29, 5)
        "responder": "substantial",  # 8 -> 4: 50% less pain
        "baseline_peg": "6.3",  # (7 + 6 + 6) / 3 = 6.33
        "end_peg": "3.7",  # (4 + 3 + 4) / 3 = 3.67, half up
        "final_pgic": "3",  # recorded on closing; the review's 2 comes after it
        "nrs_3_months": "3",
        "nrs_3_months_day": "132",  # closed on day 40, answered 92 days later
        "further_treatment_3_months": "no",
        "nrs_6_months": "2",
        "nrs_6_months_day": "223",  # 40 + 183
        "further_treatment_6_months": "yes",
        "adverse_events": "3",
        "adverse_event_kinds": "bruising;vasovagal",
        "adverse_events_mild": "2",
        "adverse_events_moderate": "1",
        "adverse_events_severe": "0",
    }
    [active] = [row for row in rows if row["status"] == "active"]
    # Born 01/01/1930: 95 when the course started, in the one band for 90 and over. Nothing closed, nothing known.
    assert (active["age_band"], active["sex"], active["closed_day"], active["stop_reason"]) == ("90+", "female", "", "")
    known = (active["signed_sessions"], active["nerves"], active["end_nrs"], active["responder"])
    assert known == ("0", "", "", "unknown")
    assert re.fullmatch(r"[0-9a-f]{16}", active["row_id"]) and active["row_id"] != row_id


def test_no_name_number_contact_detail_note_or_id_appears_anywhere_in_the_zip(seeded):
    package = package_of_export(ready_registry_export())
    text = "\n".join(package.values()).lower()
    for seeded_course in seeded:
        for secret in seeded_course.secrets:
            assert secret.lower() not in text, secret
    # Dates only as days from a course's start: none in the data.
    assert not re.search(r"\d{4}-\d{2}-\d{2}|\d{2}/\d{2}/\d{4}", package["data.csv"])


def test_row_ids_are_drawn_anew_for_every_export(seeded):
    first = {row["row_id"] for row in csv_dicts(package_of_export(ready_registry_export())["data.csv"])}
    second = {row["row_id"] for row in csv_dicts(package_of_export(ready_registry_export())["data.csv"])}
    assert len(first) == len(second) == 2
    assert not first & second


def test_a_cell_that_would_be_a_formula_is_neutralised(clinician):
    formula = Condition.objects.create(code="formula-pain", name="=1+1 Formula pain")
    CourseFactory(condition=formula, started_on=START)
    [row] = csv_dicts(package_of_export(ready_registry_export())["data.csv"])
    assert row["condition"] == "'=1+1 Formula pain"


def test_the_data_dictionary_describes_every_column_of_the_data_in_order(seeded):
    package = package_of_export(ready_registry_export())
    header = package["data.csv"].splitlines()[0].split(",")
    described = csv_dicts(package["data_dictionary.csv"])
    assert [entry["column"] for entry in described] == header
    for entry in described:
        assert entry["type"] and entry["allowed_values"] and entry["derivation"], entry["column"]
    assert {"README.md", "data.csv", "data_dictionary.csv"} == set(package)
    assert "Rows: 2" in package["README.md"] and "all courses on record" in package["README.md"]


def test_only_the_courses_started_in_the_period_have_rows(clinician):
    for started_on in (date(2024, 12, 31), date(2025, 1, 1), date(2025, 6, 30), date(2025, 7, 1)):
        CourseFactory(started_on=started_on)
    export = ready_registry_export(started_from=date(2025, 1, 1), started_to=date(2025, 6, 30))
    package = package_of_export(export)
    assert len(csv_dicts(package["data.csv"])) == 2 == export.rows_total == export.rows_done
    assert "started from 2025-01-01 to 2025-06-30" in package["README.md"]


@pytest.mark.parametrize(
    ("born", "on", "band"),
    [
        (date(1975, 3, 11), date(2025, 3, 10), "45-49"),
        (date(1975, 3, 10), date(2025, 3, 10), "50-54"),  # the 50th birthday itself
        (date(2000, 2, 29), date(2005, 2, 28), "0-4"),  # a leap-day birthday not yet reached in a common year
        (date(2000, 2, 29), date(2005, 3, 1), "5-9"),
        (date(1935, 6, 1), date(2025, 5, 31), "85-89"),
        (date(1935, 6, 1), date(2025, 6, 1), "90+"),
        (date(1900, 1, 1), date(2025, 1, 1), "90+"),
    ],
)
def test_age_bands_are_five_years_wide_and_ninety_and_over_is_one(born, on, band):
    assert age_band(born, on) == band


def _queries_for_rows(course_ids: list[int]) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert len(list(dataset.rows(course_ids))) == len(course_ids)
    return len(queries)


def test_a_batch_of_rows_costs_the_same_queries_whatever_its_size(clinician):
    seed_discontinued_course(clinician)
    few = list(TreatmentCourse.objects.values_list("pk", flat=True))
    for _ in range(5):
        CourseFactory(patient=PatientFactory(), started_on=START)
    many = list(TreatmentCourse.objects.values_list("pk", flat=True))
    assert _queries_for_rows(few) == _queries_for_rows(many)
