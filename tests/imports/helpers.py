"""Building CSV files and driving an import through its pages, with the worker's work run in the test's process
(imports.services.import_run, as the task calls it); test_worker.py drives the real worker."""

import csv
import io
from datetime import date, timedelta

from django.test import Client
from django.urls import reverse

from imports import services
from imports.models import CsvImport

CLINIKO_PATIENTS = ["ID", "Title", "First Name", "Last Name", "Date of Birth", "Sex", "Email", "Mobile",
                    "Home Phone", "Address 1", "Address 2", "City", "Post Code", "Notes"]  # fmt: skip
JANE_PATIENTS = ["Patient Number", "First Name", "Last Name", "Preferred Name", "Birth Date", "Sex", "Email",
                 "Mobile Phone", "Address", "City", "Postal Code"]  # fmt: skip


def csv_bytes(header: list[str], rows: list[list[str]], encoding: str = "utf-8") -> bytes:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return text.getvalue().encode(encoding)


def cliniko_patient(external_id: str, given: str, family: str, born: str, **extra: str) -> list[str]:
    """A row of CLINIKO_PATIENTS; `born` written day first as Cliniko's export in the UK writes it."""
    values = {"ID": external_id, "First Name": given, "Last Name": family, "Date of Birth": born, "Sex": "Female",
              **{key.replace("_", " "): value for key, value in extra.items()}}  # fmt: skip
    return [values.get(name, "") for name in CLINIKO_PATIENTS]


def dmy(day: date) -> str:
    return day.strftime("%d/%m/%Y")


def tomorrow_at(hour: int, minute: int = 0) -> str:
    """Tomorrow at a wall-clock time, as an export writes it (day first)."""
    return f"{dmy(date.today() + timedelta(days=1))} {hour:02d}:{minute:02d}"


def upload(client: Client, content: bytes, *, kind: str = "patients", source: str = "", encoding: str = "utf-8",
           name: str = "patients.csv"):  # fmt: skip
    file = io.BytesIO(content)
    file.name = name
    data = {"kind": kind, "source_system": source, "encoding": encoding, "file": file}
    return client.post(reverse("imports:list"), data)


def uploaded(client: Client, content: bytes, **options) -> CsvImport:
    response = upload(client, content, **options)
    assert response.status_code == 302, response.content.decode()[:2000]
    return CsvImport.objects.latest("pk")


def map_columns(client: Client, csv_import: CsvImport, mapping: dict[str, str] | None = None, **extra):
    """Post the mapping form as it is offered (the preset's columns), changed by `mapping`."""
    form = client.get(reverse("imports:mapping", args=[csv_import.pk])).context["form"]
    data = {name: form[name].initial or "" for name in form.fields}
    data.update({f"map_{name}": column for name, column in (mapping or {}).items()})
    data.update(extra)
    data = {name: value.pk if hasattr(value, "pk") else value for name, value in data.items() if value is not None}
    return client.post(reverse("imports:mapping", args=[csv_import.pk]), data)


def checked(client: Client, csv_import: CsvImport, **mapping_options) -> CsvImport:
    """Map the columns and run the check the worker owes."""
    response = map_columns(client, csv_import, **mapping_options)
    assert response.status_code == 302, response.content.decode()[:3000]
    assert services.import_run(csv_import.pk)
    csv_import.refresh_from_db()
    return csv_import


def imported(client: Client, csv_import: CsvImport) -> CsvImport:
    response = client.post(reverse("imports:confirm", args=[csv_import.pk]))
    assert response.status_code == 302
    assert services.import_run(csv_import.pk)
    csv_import.refresh_from_db()
    return csv_import


def problems_by_row(csv_import: CsvImport) -> dict[int, list[str]]:
    return {row.number: row.problems for row in csv_import.rows.order_by("number")}
