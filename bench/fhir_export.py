"""Time a full FHIR bulk export (interop.bulk) of a seeded database and report the peak memory of the process that
built it. Not a test.

    DATABASE_URL=postgres://.../pit_bulk_bench .venv/bin/python bench/fhir_export.py [--chunk 500] [--patients N]
        [--profile FILE]

The export is built in a child process, by the same calls the worker's task makes (`export_build`, one run after
another until it is ready, each run writing for FHIR_BULK_SLICE_SECONDS), into a temporary documents folder that is
deleted afterwards (--keep keeps it). The child's peak resident memory is its VmHWM, read from /proc when it ends,
and the kernel's ru_maxrss for it: the figure to hold under 300 MB. Then: wall time, patients per second, and per
resource type the count and file size. --profile FILE has the child run pyinstrument and write its text report
(where the time goes, by function); profiling slows Python code, so time a run without it. --patients N exports only
the first N patients (by id), to try a change quickly.
"""

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pit_portal.settings")
    import django

    django.setup()


def _peak_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def child(export_id: int, profile: str | None) -> None:
    """Build the export as the worker would, then print its figures as JSON on the last line."""
    _setup()
    from interop.bulk import services

    profiler = None
    if profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.005)
        profiler.start()
    started, runs = time.perf_counter(), 0
    while True:
        runs += 1
        outcome = services.export_build(export_id)
        if outcome is not services.Outcome.HANDED_ON:
            break
    seconds = time.perf_counter() - started
    if profiler is not None and profile:
        profiler.stop()
        Path(profile).write_text(profiler.output_text(unicode=True, color=False, show_all=False))
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    figures = {"outcome": outcome.value, "seconds": seconds, "runs": runs, "vmhwm_kb": _peak_kb()}
    print(json.dumps(figures | {"cpu_seconds": cpu.ru_utime + cpu.ru_stime}))


def _new_export(patients: int | None) -> int:
    from django.utils import timezone

    from accounts.models import User
    from interop.models import BulkExport
    from outcomes.models import LIVE_EXPORT
    from patients.models import Patient

    BulkExport.objects.filter(status__in=LIVE_EXPORT).delete()  # an earlier benchmark stopped half-way
    manager, _ = User.objects.get_or_create(username="bench-manager", defaults={"first_name": "Bench"})
    export = BulkExport(requested_by=manager, enqueued_at=timezone.now())
    if patients:
        # What the first run would fix, fixed here to the first N patients (the run keeps what it finds set).
        ids = Patient.objects.order_by("pk").values_list("pk", flat=True)[:patients]
        export.transaction_time, export.until_patient_id = timezone.now(), list(ids)[-1]
        export.patients_total = len(ids)
    export.save()
    return export.pk


def _report(export_id: int, figures: dict, peak_kb: int) -> None:
    from django.db import connection

    from interop.models import BulkExport

    export = BulkExport.objects.get(pk=export_id)
    seconds = figures["seconds"]
    print(f"database {connection.settings_dict['NAME']}: {export.patients_total:,} patients, status {export.status}")
    print(
        f"wall {seconds:.1f} s ({export.patients_total / seconds:,.0f} patients/s) in {figures['runs']} runs of "
        f"{export.chunks_done} chunks; peak RSS of the building process {peak_kb / 1024:.0f} MB "
        f"(VmHWM {figures['vmhwm_kb'] / 1024:.0f} MB); load {os.getloadavg()[0]:.1f}"
    )
    cpu_ms = 1000 * figures["cpu_seconds"] / max(export.patients_total, 1)
    print(f"CPU of the building process {figures['cpu_seconds']:.1f} s ({cpu_ms:.2f} ms per patient)")
    total = 0
    for export_file in export.files.order_by("resource_type"):
        total += export_file.size_bytes
        print(f"  {export_file.resource_type:<26} {export_file.count:>11,}  {export_file.size_bytes / 1e6:>9.1f} MB")
    print(f"  {'all':<26} {export.resources_total:>11,}  {total / 1e6:>9.1f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunk", type=int, help="patients per chunk (FHIR_BULK_CHUNK_PATIENTS)")
    parser.add_argument("--profile", help="write pyinstrument's text report of the build here")
    parser.add_argument("--patients", type=int, help="export only the first N patients (by id)")
    parser.add_argument("--keep", action="store_true", help="keep the exported files (their folder is printed)")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args.child, args.profile)
        return
    documents = Path(tempfile.mkdtemp(prefix="fhir-bulk-bench-"))
    os.environ["DOCUMENTS_ROOT"] = str(documents)
    if args.chunk:
        os.environ["FHIR_BULK_CHUNK_PATIENTS"] = str(args.chunk)
    _setup()
    export_id = _new_export(args.patients)
    command = [sys.executable, __file__, "--child", str(export_id)]
    if args.profile:
        command += ["--profile", str(Path(args.profile).resolve())]
    try:
        finished = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True)  # noqa: S603
        figures = json.loads(finished.stdout.strip().splitlines()[-1])
        _report(export_id, figures, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    finally:
        if args.keep:
            print(f"files kept in {documents}")
        else:
            shutil.rmtree(documents, ignore_errors=True)


if __name__ == "__main__":
    main()
