"""Time a CSV import (imports.services) of patients, then of their future appointments. Not a test.

    DATABASE_URL=postgres://.../pit_bench .venv/bin/python bench/import_bench.py [--patients N] [--appointments N]

Writes into the database it is given: a clinician working every day, then a Cliniko-style patients file of fresh
names (a few rows spoiled, as a real export has them) and an appointments file for the patients just imported.
Each file goes through what the worker does: the check (the preview) and the import (one transaction), timed
apart; then the same patients file is checked again, which must find nothing new to make.
"""

import argparse
import csv
import io
import os
import sys
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

HEADER = ["ID", "First Name", "Last Name", "Date of Birth", "Sex", "Email", "Mobile", "Address 1", "City", "Post Code"]
APPOINTMENT_HEADER = ["ID", "Patient ID", "Practitioner", "Appointment Start", "Appointment Type"]


def _csv(header: list[str], rows: list[list[str]]) -> bytes:
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(header)
    writer.writerows(rows)
    return text.getvalue().encode()


def patients_file(count: int, run: str) -> bytes:
    rows = []
    for n in range(count):
        born = date(1940, 1, 1) + timedelta(days=(n * 37) % 25000)
        phone = f"079{int(run, 16) % 1000:03d}{n:05d}"  # a mobile of this run's own
        sex, email = "F" if n % 2 else "M", f"p{n}.{run}@example.org"
        name = [f"{run}-{n}", f"Given{n}", f"Family{run}{n % 997}", born.strftime("%d/%m/%Y")]
        rows.append([*name, sex, email, phone, f"{n} High Street", "Leeds", "LS1 4AP"])
    for n in range(0, count, 500):  # a spoiled date now and then
        rows[n][3] = "31/02/1980"
    return _csv(HEADER, rows)


def appointments_file(count: int, run: str, clinician: str) -> bytes:
    start = date.today() + timedelta(days=1)
    rows = []
    for n in range(count):
        day, slot = start + timedelta(days=n // 32), n % 32  # 32 quarter hours a day, 09:00-17:00
        when = f"{day:%d/%m/%Y} {9 + slot // 4:02d}:{(slot % 4) * 15:02d}"
        rows.append([f"{run}-a{n}", f"{run}-{n + 1}", clinician, when, "Review"])
    return _csv(APPOINTMENT_HEADER, rows)


def _timed(label: str, action) -> float:
    started = time.perf_counter()
    action()
    seconds = time.perf_counter() - started
    print(f"{label}: {seconds:.1f} s")
    return seconds


def _through(csv_import, mapping_by_preset: bool = True) -> tuple[float, float]:
    from imports import services
    from imports.models import CsvImport
    from imports.presets import suggested_mapping

    mapping = suggested_mapping(csv_import.header, csv_import.source_system, csv_import.kind)
    services.import_map(csv_import=csv_import, mapping=mapping, date_order="dmy")
    check = _timed(f"  check ({csv_import.row_count} rows)", lambda: services.import_run(csv_import.pk))
    csv_import = CsvImport.objects.get(pk=csv_import.pk)
    print(f"  preview: {csv_import.to_create} to make, {csv_import.to_skip} to skip")
    services.import_confirm(csv_import=csv_import, by=csv_import.uploaded_by)
    made = _timed("  import", lambda: services.import_run(csv_import.pk))
    csv_import = CsvImport.objects.get(pk=csv_import.pk)
    print(f"  report: {csv_import.created_count} made, {csv_import.skipped_count} skipped")
    return check, made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--appointments", type=int, default=1_000)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pit_portal.settings")
    import django

    django.setup()
    from datetime import time as clock

    from accounts.models import Role, User
    from accounts.roles import role_group_id
    from imports import services
    from patients.models import Patient
    from scheduling.models import AppointmentType, WorkingHours

    run = uuid.uuid4().hex[:6]
    manager = User.objects.create_user(username=f"bench-manager-{run}")
    manager.groups.add(role_group_id(Role.MANAGER))
    clinician = User.objects.create_user(username=f"bench-clinician-{run}", first_name="Bench", last_name=run)
    clinician.groups.add(role_group_id(Role.CLINICIAN))
    WorkingHours.objects.bulk_create(WorkingHours(clinician=clinician, weekday=d, starts=clock(9), ends=clock(17))
                                     for d in range(7))  # fmt: skip
    AppointmentType.objects.filter(code="review").update(name="Review")
    print(f"patients already registered: {Patient.objects.count()}")

    def upload(kind: str, content: bytes):
        return services.import_upload(by=manager, kind=kind, source_system="cliniko", file_name=f"{kind}.csv",
                                      content=content, encoding="utf-8")  # fmt: skip

    print(f"patients file, {args.patients} rows")
    check, made = _through(upload("patients", patients_file(args.patients, run)))
    print(f"  total {check + made:.1f} s")
    print(f"appointments file, {args.appointments} rows")
    check, made = _through(upload("appointments", appointments_file(args.appointments, run, f"Bench {run}")))
    print(f"  total {check + made:.1f} s")
    print("the same patients file again")
    _through(upload("patients", patients_file(args.patients, run)))


if __name__ == "__main__":
    main()
