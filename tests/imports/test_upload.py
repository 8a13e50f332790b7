"""The upload: who may, and each file it refuses, with the reason, before anything is kept."""

import io
import tracemalloc

import pytest
from django.test import Client, RequestFactory
from django.urls import reverse

from imports.models import CsvImport, ImportStatus, SourceSystem
from imports.views import import_list
from tests.imports.helpers import CLINIKO_PATIENTS, JANE_PATIENTS, cliniko_patient, csv_bytes, upload, uploaded

pytestmark = pytest.mark.django_db

ONE_ROW = csv_bytes(CLINIKO_PATIENTS, [cliniko_patient("1", "Zoë", "Brontë", "02/03/1970")])


def error_of(response) -> str:
    errors = [str(error) for errors in response.context["form"].errors.values() for error in errors]
    return " ".join([response.context["refusal"], *errors])


def test_a_cliniko_file_is_kept_and_recognised(manager_client):
    csv_import = uploaded(manager_client, ONE_ROW)
    assert (csv_import.source_system, csv_import.status, csv_import.row_count) == ("cliniko", "mapping", 1)
    assert bytes(csv_import.content) == ONE_ROW and csv_import.header == CLINIKO_PATIENTS


def test_a_jane_file_is_recognised_and_its_columns_matched(manager_client):
    content = csv_bytes(JANE_PATIENTS, [["7", "Ann", "Lee", "", "1980-01-02", "F", "", "", "", "", ""]])
    csv_import = uploaded(manager_client, content)
    assert csv_import.source_system == SourceSystem.JANE
    form = manager_client.get(reverse("imports:mapping", args=[csv_import.pk])).context["form"]
    assert form["map_date_of_birth"].initial == "Birth Date" and form["map_phone"].initial == "Mobile Phone"
    assert form["map_external_id"].initial == "Patient Number" and form["map_postcode"].initial == "Postal Code"


def test_a_utf8_file_with_a_byte_order_mark_reads_its_first_column(manager_client):
    csv_import = uploaded(manager_client, b"\xef\xbb\xbf" + ONE_ROW)
    assert csv_import.header[0] == "ID"


def test_a_windows_1252_file_is_refused_as_utf8_naming_the_line_and_the_choice(manager_client):
    content = csv_bytes(CLINIKO_PATIENTS, [cliniko_patient("1", "Zoë", "Brontë", "02/03/1970")], "cp1252")
    response = upload(manager_client, content)
    assert response.status_code == 400
    assert "Line 2 of the file is not valid UTF-8" in error_of(response) and "Windows-1252" in error_of(response)
    assert not CsvImport.objects.exists()


def test_a_windows_1252_file_reads_when_chosen(manager_client):
    content = csv_bytes(CLINIKO_PATIENTS, [cliniko_patient("1", "Zoë", "Brontë", "02/03/1970")], "cp1252")
    csv_import = uploaded(manager_client, content, encoding="cp1252")
    assert csv_import.encoding == "cp1252"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "The submitted file is empty."),
        (b" \r\n", "The file is empty."),
        (b"PK\x03\x04rest-of-a-zip", "spreadsheet workbook"),
        ("ID,Name\n".encode("utf-16"), "UTF-16"),
        (b"1,Ann,Lee,02/03/1970\n2,Bob,Ray,04/05/1980\n", "looks like a patient's data"),
        (b"ann@example.com,Ann\n", "looks like a patient's data"),
        (b"just one column\nAnn\n", "one column or none"),
        (b"ID,,Last Name\n1,Ann,Lee\n", "has no name"),
        (b"ID,Name,Name\n1,Ann,Lee\n", "names a column twice (Name)"),
        (b"ID,Name\n", "no rows"),
        (b'ID,Name\n1,"Ann\n', "is not valid CSV"),
    ],
)
def test_a_file_that_is_no_csv_table_is_a_400_saying_why(manager_client, content, message):
    response = upload(manager_client, content)
    assert response.status_code == 400
    assert message in error_of(response)
    assert not CsvImport.objects.exists()


def test_a_50_mb_file_is_refused_413_before_its_body_is_read(manager, settings):
    content = b"ID,Name\n" + b"1,Ann\n" * (50 * 1024 * 1024 // 6)
    file = io.BytesIO(content)
    file.name = "big.csv"
    request = RequestFactory().post(reverse("imports:list"), {"kind": "patients", "encoding": "utf-8", "file": file})
    request.user = manager
    request.session = Client().session
    tracemalloc.start()
    response = import_list(request)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert response.status_code == 413
    assert "larger than 10 MB" in response.content.decode()
    assert peak < 5 * 1024 * 1024, "the view held the upload in memory"
    assert not CsvImport.objects.exists()


def test_a_file_just_over_the_limit_is_stopped_while_it_arrives(manager_client, settings):
    settings.IMPORTS_MAX_FILE_BYTES = 100 * 1024
    content = b"ID,Name\n" + b"1,Ann\n" * (101 * 1024 // 6)  # under the limit plus the form's allowance
    response = upload(manager_client, content)
    assert response.status_code == 413
    assert "The file is larger than" in error_of(response)
    assert not CsvImport.objects.exists()


@pytest.mark.parametrize("persona", ["clinician_client", "front_desk_client", "patient_client", "outsider_client"])
def test_only_those_who_manage_the_clinic_may_import(request, persona):
    client = request.getfixturevalue(persona)
    assert client.get(reverse("imports:list")).status_code == 403
    assert upload(client, ONE_ROW).status_code == 403
    assert not CsvImport.objects.exists()


@pytest.mark.parametrize("persona", ["clinician_client", "front_desk_client"])
def test_staff_who_do_not_manage_get_404_for_an_import(request, persona, manager_client):
    csv_import = uploaded(manager_client, ONE_ROW)
    client = request.getfixturevalue(persona)
    for name in ("imports:detail", "imports:progress", "imports:report_csv", "imports:mapping"):
        assert client.get(reverse(name, args=[csv_import.pk])).status_code in (403, 404)
    assert client.post(reverse("imports:confirm", args=[csv_import.pk])).status_code in (403, 404)
    assert CsvImport.objects.get().status == ImportStatus.MAPPING
