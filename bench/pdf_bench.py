"""PDF rendering benchmark: warm render time per document kind, and worker memory over many renders.

Not a test. Run it with a migrated database:

    DATABASE_URL=postgres://... SECRET_KEY=x .venv/bin/python bench/pdf_bench.py

It builds a realistic patient, course and signed session inside a transaction that it rolls back (nothing is
left in the database), renders each document kind as a warm worker would, and writes docs/performance.md.
`--samples DIR` also writes one PDF of each kind there, to look at.
"""

import argparse
import datetime
import hashlib
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.report import load_average, machine, section_markers, write_section  # noqa: E402

SECTION = "pdf-bench"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pit_portal.settings")

import django  # noqa: E402

django.setup()

import psutil  # noqa: E402
import weasyprint  # noqa: E402
from django.contrib.auth.models import Group  # noqa: E402
from django.core.files.storage import FileSystemStorage  # noqa: E402
from django.db import transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from accounts.models import Role, User  # noqa: E402
from assessments.models import Assessment, Nerve, PainArea  # noqa: E402
from documents import context, render, storage  # noqa: E402
from documents.models import Document, DocumentKind  # noqa: E402
from patients.models import Condition, ConsentText, Intake, Patient, PatientConsent  # noqa: E402
from scheduling.models import Appointment, AppointmentType  # noqa: E402
from treatments import services  # noqa: E402
from treatments.models import AdverseEvent, InjectionSession, InjectionSite, TreatmentCourse  # noqa: E402

TARGETS_MS = {DocumentKind.AFTERCARE: 200, DocumentKind.VISIT_SUMMARY: 400}
RSS_GROWTH_TARGET_MB = 50
NERVES = ["Lateral femoral cutaneous nerve", "Superior cluneal nerves", "Infrapatellar branch of the saphenous nerve"]


def _user(username: str, first: str, last: str, role: Role) -> User:
    user = User.objects.create(username=f"{username}-{uuid.uuid4().hex[:6]}", first_name=first, last_name=last)
    user.groups.add(Group.objects.get(name=role.value))
    return user


def _patient(witness: User) -> Patient:
    patient = Patient.objects.create(
        clinic_number=f"B-{uuid.uuid4().hex[:8]}",
        given_name="Margaret",
        family_name="O'Connor-Hughes",
        date_of_birth=datetime.date(1958, 3, 14),
        sex="female",
        email="margaret@example.org",
        gp_name="Dr Priya Nair",
        gp_practice="Riverside Medical Practice",
    )
    Intake.objects.create(patient=patient)
    PatientConsent.objects.create(
        patient=patient, consent_text=ConsentText.objects.current(), signed_name=patient.full_name, witnessed_by=witness
    )
    return patient


def _baseline(patient: Patient, clinician: User, when: datetime.datetime) -> Assessment:
    assessment = Assessment.objects.create(
        patient=patient, kind="initial", assessed_at=when, clinician=clinician,
        presenting_complaint="Burning pain over the outer thigh and low back for two years.",
        condition=Condition.objects.get(code="low-back-pain"), side="left",
        nrs_current=8, nrs_worst=9, nrs_average=7, peg_pain=7, peg_enjoyment=6, peg_activity=8,
    )  # fmt: skip
    for region, intensity, tender in [("B-LOW-BACK-L", 8, True), ("F-THIGH-L", 7, True), ("F-KNEE-L", 4, False)]:
        PainArea.objects.create(assessment=assessment, region=region, intensity=intensity, tender=tender)
    return assessment


def _session(course: TreatmentCourse, number: int, when: datetime.datetime, pre: int, post: int) -> InjectionSession:
    session = InjectionSession.objects.create(
        course=course, number=number, performed_at=when, clinician=course.created_by,
        consent=PatientConsent.objects.get(patient=course.patient), pre_nrs=pre, post_nrs=post,
        lot_number="DX-2291", lot_expiry=timezone.localdate() + datetime.timedelta(days=300),
        next_interval_days=7, aftercare_given=True,
        notes="Tolerated well. Tender points along the course of the lateral femoral cutaneous nerve "
        "reproduced the usual burning; all settled after injection.",
    )  # fmt: skip
    for name, points in zip(NERVES, (6, 4, 3), strict=True):
        nerve = Nerve.objects.get(name=name)
        InjectionSite.objects.create(
            session=session, nerve=nerve, side="left", points=points, volume_per_point_ml=Decimal("0.5")
        )
    return session


def build_sample() -> dict[str, Document]:
    """A patient four weeks into a course, the fourth session signed, an addendum, the next visit booked."""
    clinician = _user("bench-clinician", "Alice", "Carter", Role.CLINICIAN)
    now = timezone.now()
    patient = _patient(_user("bench-desk", "Bob", "Reyes", Role.FRONT_DESK))
    baseline = _baseline(patient, clinician, now - datetime.timedelta(days=29))
    course = TreatmentCourse.objects.create(
        patient=patient, condition=baseline.condition, planned_sessions=6, interval_days=7,
        started_on=timezone.localdate() - datetime.timedelta(days=28), created_by=clinician,
        baseline_assessment=baseline,
    )  # fmt: skip
    Assessment.objects.filter(pk=baseline.pk).update(course=course)
    scores = [(8, 4), (7, 3), (6, 2), (5, 1)]
    for number, (pre, post) in enumerate(scores, start=1):
        session = _session(course, number, now - datetime.timedelta(days=7 * (4 - number), hours=1), pre, post)
        if number == len(scores):
            AdverseEvent.objects.create(session=session, kind="bruising", severity="mild", note="Small bruise, L thigh")
        session = services.session_sign(session=session, by=clinician)
    services.addendum_add(session=session, text="Patient phoned: bruise fading, pain 3/10 next day.", by=clinician)
    _book_next(patient, clinician, now)
    return {doc.kind: doc for doc in Document.objects.filter(session=session, superseded_at__isnull=True)}


def _book_next(patient: Patient, clinician: User, now: datetime.datetime) -> None:
    day = timezone.localdate(now) + datetime.timedelta(days=7)
    starts = timezone.make_aware(datetime.datetime.combine(day, datetime.time(10, 30)))
    kind = AppointmentType.objects.get(code="pit-session")
    Appointment.objects.create(
        patient=patient, clinician=clinician, appointment_type=kind, starts_at=starts,
        ends_at=starts + datetime.timedelta(minutes=kind.duration_minutes), created_by=clinician,
    )  # fmt: skip


def _time_renders(template_name: str, data: dict, count: int) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU milliseconds per render; CPU time is less disturbed by other load on the machine."""
    wall, cpu = [], []
    for _ in range(count):
        started, started_cpu = time.perf_counter(), time.process_time()
        render.render_pdf(template_name, data)
        wall.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
    return wall, cpu


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1] if len(values) > 1 else values[0]


def _rss_mb() -> float:
    return psutil.Process().memory_info().rss / 2**20


def _context_ms(documents: dict[str, Document], count: int = 20) -> float:
    timings = []
    for _ in range(count):
        started = time.perf_counter()
        for document in documents.values():
            context.template_and_context(document)
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def _store_ms(content: bytes, count: int = 20) -> float:
    timings = []
    with tempfile.TemporaryDirectory() as folder:
        target = FileSystemStorage(location=folder)
        for index in range(count):
            started = time.perf_counter()
            storage.write_atomically(target, f"sessions/1/visit_summary-v1-{index}.pdf", content)
            hashlib.sha256(content).hexdigest()
            timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def measure(documents: dict[str, Document], renders: int, rss_renders: int, samples: Path | None) -> dict:
    jobs = {kind: context.template_and_context(document) for kind, document in documents.items()}
    render.warm_up()
    results = {"kinds": {}, "load_before": os.getloadavg()}
    for kind, (template_name, data) in jobs.items():
        rendered = render.render_pdf(template_name, data)  # one more warm-up, with this template's own content
        if samples is not None:
            (samples / f"{kind}.pdf").write_bytes(rendered.content)
        wall, cpu = _time_renders(template_name, data, renders)
        results["kinds"][kind] = {"median": statistics.median(wall), "p95": _p95(wall), "cpu": statistics.median(cpu),
                                  "pages": rendered.page_count, "bytes": len(rendered.content)}  # fmt: skip
    start = _rss_mb()
    ordered = list(jobs.values())
    for index in range(rss_renders):
        template_name, data = ordered[index % len(ordered)]
        render.render_pdf(template_name, data)
    results["rss"] = {"start": start, "end": _rss_mb(), "renders": rss_renders}
    results["context_ms"] = _context_ms(documents)
    results["store_ms"] = _store_ms(render.render_pdf(*jobs[DocumentKind.VISIT_SUMMARY]).content)
    results["load_after"] = os.getloadavg()
    return results


def _verdict(ok: bool) -> str:
    return "meets target" if ok else "**misses target**"


NOTES = [
    "## Notes",
    "",
    "- This machine is shared: other sessions run their test suites on the same CPUs (see the load average), and",
    "  repeated runs of this script have varied by a third or more. The CPU-time column is less disturbed than",
    "  wall time; the targets are judged on the wall-clock median, as asked.",
    "- Where a warm render's time goes: `bench/pdf_profile.py` (pyinstrument, shares of the render, and the number",
    "  of Pango text layouts, which does not depend on the load) and py-spy on a live worker (`pip install py-spy`,",
    "  `py-spy record --subprocesses --pid <worker pid>`) agree that it is WeasyPrint's own work. A visit summary:",
    "  drawing the two SVG figures about a third in the profile (rendering without them saves a quarter of the",
    "  time), layout 28%, the CSS cascade 10%. An aftercare sheet: layout 47% (the running page header and footer",
    "  9%), the CSS cascade 17%, drawing 16%.",
    "- Looked at and not hot: the stylesheet and the two fonts are parsed once per process (a module-level",
    "  FontConfiguration and CSS object, warmed by a `worker_process_init` handler; no CSS parsing or @font-face",
    "  loading appears in a warm render's profile); pdf.css is 6 KB of our own, no Bootstrap; the URL fetcher serves",
    "  the two in-memory figures of a render in under 1 ms; font subsetting is 1-2%; garbage collection about 3%.",
    "- Fixed: the tables were auto-layout, so WeasyPrint laid every cell's text out twice more to find the",
    "  narrowest and widest the cell could be before laying it out for real: 192 of the 861 Pango text layouts of",
    "  a visit summary, 75 of the 307 of an aftercare sheet. Every PDF table is now fixed-layout, with column widths",
    "  set in pdf.css and `<colgroup>`s, and the PDFs look the same (a test checks that no table is auto-laid-out).",
    "  CPU ms per warm render, before and after, interleaved in one process (load 1.5):",
    "  visit summary 156 -> 141, aftercare sheet 86 -> 83 (medians of 30).",
    "- Not changed: the figures. WeasyPrint 70 lays out SVG text one glyph at a time (two Pango layouts per",
    "  character, 450 of a visit summary's 670 now); laying each label out whole, tried as a patch to WeasyPrint",
    "  and not kept, saved only 10 ms of 140. The rest is parsing and drawing the body map's 56 outlines.",
    "  Layout already uses tables rather than flex or grid, and the figures reach WeasyPrint as SVG images",
    "  (`pit-figure:` URLs served from memory by the URL fetcher), not inline SVG, which would add the HTML parser",
    "  and the CSS cascade over some 1,700 SVG elements. Memory stays flat: nothing is cached per document.",
    "",
]


def report(results: dict, command: str, renders: int) -> str:
    rss = results["rss"]
    growth = rss["end"] - rss["start"]
    lines = [
        "# PDF rendering performance",
        "",
        "Measured by `bench/pdf_bench.py` (not a test). It renders a realistic aftercare sheet and visit summary",
        "(fourth session of a course, three sites, an adverse event, an addendum, body map, pain chart) in one",
        "process after warm-up, as a Celery worker does after its `worker_process_init` warm-up.",
        "",
        f"- Command: `{command}`",
        f"- Machine: {machine()}",
        f"- Date: {timezone.localtime():%Y-%m-%d %H:%M %Z}",
        f"- Python {platform.python_version()}, WeasyPrint {weasyprint.__version__}",
        f"- Load average (1/5/15 min) before: {load_average(results['load_before'])};"
        f" after: {load_average(results['load_after'])}",
        f"- Renders timed per kind: {renders}",
        "",
        "| document | pages | size | median (wall) | p95 (wall) | median CPU | target | |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for kind, row in results["kinds"].items():
        target = TARGETS_MS[kind]
        verdict = _verdict(row["median"] <= target)
        lines.append(
            f"| {DocumentKind(kind).label} | {row['pages']} | {row['bytes'] / 1024:.0f} KiB | {row['median']:.0f} ms"
            f" | {row['p95']:.0f} ms | {row['cpu']:.0f} ms | ≤ {target} ms (warm) | {verdict} |"
        )
    lines += [
        "",
        f"Worker memory (RSS) over {rss['renders']} renders, alternating the two kinds: start {rss['start']:.1f} MB,"
        f" end {rss['end']:.1f} MB, growth {growth:.1f} MB (target < {RSS_GROWTH_TARGET_MB} MB:"
        f" {_verdict(growth < RSS_GROWTH_TARGET_MB)}).",
        "",
        "Times are the render step only (template to PDF bytes). The other two steps of a task, measured the same way:",
        f"reading the note and building the context {results['context_ms']:.0f} ms (median, both kinds together);",
        f"storing the visit summary (temporary file, atomic rename, SHA-256) {results['store_ms']:.1f} ms.",
        "",
        *NOTES,
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--renders", type=int, default=50, help="timed renders per document kind")
    parser.add_argument("--rss-renders", type=int, default=500, help="renders for the memory measurement")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "performance.md")
    parser.add_argument("--samples", type=Path, help="also write one PDF of each kind into this folder")
    args = parser.parse_args()
    with transaction.atomic():
        documents = build_sample()
        results = measure(documents, args.renders, args.rss_renders, args.samples)
        transaction.set_rollback(True)  # leave the database as we found it
    command = " ".join([".venv/bin/python", "bench/pdf_bench.py", *sys.argv[1:]])
    text = report(results, command, args.renders)
    start, end = section_markers(SECTION)
    write_section(args.output, SECTION, f"{start}\n{text}\n{end}")
    print(text)


if __name__ == "__main__":
    main()
