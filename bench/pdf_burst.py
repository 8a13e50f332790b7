"""PDF worker benchmark: throughput, enqueue-to-ready under a burst of signings, worker memory over 1,000 renders.

Not a test. It starts a real `celery worker` as the Procfile does (prefork pool, concurrency = the CPU count,
the settings' memory cap per pool process) and drives it through the real services:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/pit_pdf SECRET_KEY=x .venv/bin/python bench/pdf_burst.py

Everything it uses is its own: a database (--database, created and migrated if missing; the server and
credentials come from DATABASE_URL), a Redis database and queue (--broker, --queue), and a temporary folder for
the PDFs and emails. It seeds realistic patients (a baseline assessment, three signed sessions and a fourth in
draft, the next visit booked), then:

1. throughput: signs --throughput-sessions notes in one transaction, so all their documents are queued at once,
   and counts documents per second until the last is READY;
2. burst: signs --burst-sessions notes one after another as fast as the service allows, each in its own
   transaction (the documents are queued when it commits), and times every document from enqueued to READY;
3. memory: asks for new versions of the burst sessions' documents (as an addendum does) until the worker has
   rendered --renders documents since it started, reading each pool process's RSS from /proc before and after.

It writes its section of docs/performance.md (between the pdf-worker markers), leaving the rest as it was.
"""

import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from datetime import time as dt_time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.report import load_average, machine, percentile, positive_int, section_markers, write_section  # noqa: E402

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pit_portal.settings")

SECTION = "pdf-worker"
SECTION_START, SECTION_END = section_markers(SECTION)
DEFAULT_DATABASE = "pit_pdf_bench"
DEFAULT_BROKER = "redis://127.0.0.1:6379/11"  # a Redis database no other part of the project uses
BURST_TARGET_S = 60
RSS_GROWTH_TARGET_MB = 50
WORKER_START_TIMEOUT_S = 90


# --- Database -----------------------------------------------------------------------------------------------------


def database_url(name: str) -> str:
    """DATABASE_URL with its database name replaced: the same server and credentials, the bench's own database."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        sys.exit("Set DATABASE_URL to a PostgreSQL server (postgres://...); the bench makes its own database there.")
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def create_database(name: str, *, fresh: bool) -> None:
    import psycopg

    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
        sys.exit("--database must be a plain lower-case name")
    with psycopg.connect(database_url("postgres"), autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists and fresh:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        if fresh or not exists:
            admin.execute(f'CREATE DATABASE "{name}"')


# --- The worker ---------------------------------------------------------------------------------------------------


def rss_mb(pid: int) -> float:
    """Resident set size of one process, from /proc (VmRSS, in kB)."""
    with open(f"/proc/{pid}/status") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of one process so far, from /proc (in clock ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def child_pids(parent: int) -> list[int]:
    """The worker's pool processes: every process whose parent is the worker's main process."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # The command name (2nd field) may hold spaces; the parent pid is the 2nd field after its ")".
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended while we looked
        if int(fields[1]) == parent:
            children.append(int(stat.parent.name))
    return sorted(children)


@dataclass
class Worker:
    """`celery -A pit_portal worker --loglevel INFO` (the Procfile's command) on the bench's database and queue."""

    env: dict
    folder: Path
    process: subprocess.Popen | None = None
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.folder / "worker.log"

    def start(self) -> None:
        command = [sys.executable, "-m", "celery", "-A", "pit_portal", "worker", "--loglevel", "INFO"]
        command += ["--hostname", f"pdf-bench-{uuid.uuid4().hex[:6]}@%h"]
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(command, env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)  # noqa: S603
        wait_for(lambda: b"ready." in self.log.read_bytes(), WORKER_START_TIMEOUT_S, "the worker to start", self.log)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # warm shutdown: running tasks finish first
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def pool(self) -> dict[int, float]:
        """RSS (MB) of each pool process, by pid."""
        return {pid: rss_mb(pid) for pid in child_pids(self.process.pid)}

    def cpu(self) -> float:
        """CPU seconds used so far by the main process and the pool processes together."""
        return sum(cpu_seconds(pid) for pid in [self.process.pid, *child_pids(self.process.pid)])

    def task_runtimes(self, task_name: str) -> list[float]:
        """Seconds each run of `task_name` took inside a pool process, from the worker's own log lines."""
        pattern = re.compile(rf"Task {re.escape(task_name)}\[[^\]]+\] succeeded in ([0-9.]+)s")
        return [float(match) for match in pattern.findall(self.log.read_text(errors="replace"))]


def wait_for(condition, timeout: float, what: str, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    tail = log.read_text(errors="replace")[-3000:] if log else ""
    sys.exit(f"Timed out after {timeout:.0f} s waiting for {what}.\n{tail}")


# --- Data and the services under test -----------------------------------------------------------------------------


def seed_drafts(count: int):
    """`count` patients, each four weeks into a course: three sessions signed, the fourth in draft, next visit booked.

    The pending documents of the three earlier sessions are sent to the queue too; the caller empties it before the
    worker starts, so only the documents measured here are rendered."""
    from django.db import transaction
    from django.utils import timezone

    from accounts.models import Role
    from bench.pdf_bench import _baseline, _patient, _session, _user
    from treatments import services
    from treatments.models import AdverseEvent, TreatmentCourse

    clinician = _user("bench-clinician", "Alice", "Carter", Role.CLINICIAN)
    desk = _user("bench-desk", "Bob", "Reyes", Role.FRONT_DESK)
    now = timezone.now()
    drafts = []
    for index in range(count):
        with transaction.atomic():
            patient = _patient(desk)
            baseline = _baseline(patient, clinician, now - timedelta(days=29))
            course = TreatmentCourse.objects.create(
                patient=patient, condition=baseline.condition, planned_sessions=6, interval_days=7,
                started_on=timezone.localdate() - timedelta(days=28), created_by=clinician,
                baseline_assessment=baseline,
            )  # fmt: skip
            baseline.course = course
            baseline.save(update_fields=["course"])
            for number, (pre, post) in enumerate([(8, 4), (7, 3), (6, 2)], start=1):
                session = _session(course, number, now - timedelta(days=7 * (4 - number), hours=1), pre, post)
                services.session_sign(session=session, by=clinician)
            draft = _session(course, 4, now - timedelta(hours=1), 5, 1)
            AdverseEvent.objects.create(session=draft, kind="bruising", severity="mild", note="Small bruise, L thigh")
            book_next_visit(patient, clinician, index)
        drafts.append(draft)
    return clinician, drafts


def book_next_visit(patient, clinician, index: int) -> None:
    """The patient's next session, a week on; one clinician sees them all, so each gets its own half-hour slot."""
    from django.utils import timezone

    from scheduling.models import Appointment, AppointmentType

    kind = AppointmentType.objects.get(code="pit-session")
    day = timezone.localdate() + timedelta(days=7 + index // 16)
    starts = timezone.make_aware(datetime.combine(day, dt_time(8, 0))) + timedelta(minutes=30 * (index % 16))
    Appointment.objects.create(
        patient=patient, clinician=clinician, appointment_type=kind, starts_at=starts,
        ends_at=starts + timedelta(minutes=kind.duration_minutes), created_by=clinician,
    )  # fmt: skip


def empty_queue(queue: str) -> int:
    from pit_portal.celery import app

    with app.connection_for_write() as connection:
        return connection.default_channel.queue_purge(queue) or 0


def remove_queue(queue: str) -> None:
    """Delete the bench's queue with anything left in it (ready emails queued after the last render)."""
    from pit_portal.celery import app

    with app.connection_for_write() as connection:
        connection.default_channel.queue_delete(queue)


def sign_one_by_one(drafts, clinician) -> float:
    """Each note signed in its own transaction, back to back; returns the seconds it took to sign them all."""
    from treatments import services

    started = time.monotonic()
    for draft in drafts:
        services.session_sign(session=draft, by=clinician)  # commits; its two documents are queued then
    return time.monotonic() - started


def sign_together(drafts, clinician):
    """All notes signed in one transaction, so every document is queued when it commits; returns that moment."""
    from django.db import transaction
    from django.utils import timezone

    from treatments import services

    with transaction.atomic():
        for draft in drafts:
            services.session_sign(session=draft, by=clinician)
    return timezone.now()  # the messages were sent by the on-commit callbacks, just before this


def request_new_versions(sessions) -> None:
    from documents.services import documents_request

    for session in sessions:
        documents_request(session=session)  # what an addendum does: a new version of both documents, queued


def current_documents(sessions):
    from documents.models import Document

    return Document.objects.filter(session__in=sessions, superseded_at__isnull=True)


def wait_until_ready(sessions, timeout: float, log: Path) -> None:
    from documents.models import DocumentStatus

    expected = 2 * len(sessions)

    def all_ready() -> bool:
        statuses = list(current_documents(sessions).values_list("status", flat=True))
        if DocumentStatus.FAILED in statuses:
            sys.exit(f"A document failed to render; see {log}")
        return statuses.count(DocumentStatus.READY) == expected

    wait_for(all_ready, timeout, f"{expected} documents to be ready", log)


def enqueue_to_ready(sessions) -> list[float]:
    """Seconds from each current document's enqueue (its row, made in the signing transaction) to READY."""
    times = current_documents(sessions).values_list("enqueued_at", "ready_at")
    return sorted((ready - enqueued).total_seconds() for enqueued, ready in times)


def first_enqueued_to_last_ready(sessions) -> float:
    times = list(current_documents(sessions).values_list("enqueued_at", "ready_at"))
    return (max(ready for _, ready in times) - min(enqueued for enqueued, _ in times)).total_seconds()


# --- Measuring ------------------------------------------------------------------------------------------------------


def measure_throughput(drafts, clinician, worker: Worker, timeout: float) -> dict:
    cpu_before = worker.cpu()
    committed = sign_together(drafts, clinician)
    wait_until_ready(drafts, timeout, worker.log)
    last_ready = max(current_documents(drafts).values_list("ready_at", flat=True))
    seconds = (last_ready - committed).total_seconds()
    return {"documents": 2 * len(drafts), "seconds": seconds, "worker_cpu_s": worker.cpu() - cpu_before}


def measure_burst(drafts, clinician, worker: Worker, timeout: float) -> dict:
    signing = sign_one_by_one(drafts, clinician)
    wait_until_ready(drafts, timeout, worker.log)
    return {
        "sessions": len(drafts), "signing_s": signing, "latencies": enqueue_to_ready(drafts),
        "all_ready_s": first_enqueued_to_last_ready(drafts), "load": os.getloadavg(),
    }  # fmt: skip


def render_more(sessions, worker: Worker, renders: int, timeout: float) -> None:
    """New versions of the sessions' documents, in batches of at most one per session, `renders` in all."""
    while renders > 0:
        batch = sessions[: max(1, renders // 2)]
        print(f"memory: {2 * len(batch)} more renders", flush=True)
        request_new_versions(batch)
        wait_until_ready(batch, timeout, worker.log)
        renders -= 2 * len(batch)


def run(args: argparse.Namespace, worker: Worker) -> dict:
    sizes = [1, args.throughput_sessions, args.burst_sessions]
    print(f"seeding {sum(sizes)} patients ...", flush=True)
    clinician, drafts = seed_drafts(sum(sizes))
    warm_up, throughput, burst = drafts[:1], drafts[1 : 1 + sizes[1]], drafts[1 + sizes[1] :]
    print(f"emptied {empty_queue(args.queue)} messages of the earlier sessions; starting the worker", flush=True)
    worker.start()
    results = {"load_before": os.getloadavg()}
    # A worker in service has rendered before: one session first, so the pool processes have their database
    # connections (their fonts and stylesheet were loaded at start, by the worker_process_init warm-up).
    sign_one_by_one(warm_up, clinician)
    wait_until_ready(warm_up, args.timeout, worker.log)
    results["rss_start"] = worker.pool()
    print(f"throughput: {2 * len(throughput)} documents queued at once", flush=True)
    results["throughput"] = measure_throughput(throughput, clinician, worker, args.timeout)
    print(f"burst: {len(burst)} notes signed back to back", flush=True)
    results["burst"] = measure_burst(burst, clinician, worker, args.timeout)
    results["rss_after_burst"] = worker.pool()
    rendered = 2 * sum(sizes)
    render_more(burst, worker, args.renders - rendered, args.timeout)
    results["rss_end"] = worker.pool()
    results["renders"] = max(rendered, args.renders)
    results["renders_after_burst"] = results["renders"] - rendered
    results["task_s"] = worker.task_runtimes("documents.tasks.render_document")
    results["load_after"] = os.getloadavg()
    return results


# --- Report -----------------------------------------------------------------------------------------------------------


def _verdict(ok: bool) -> str:
    return "meets target" if ok else "**misses target**"


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms"


def _rss_rows(results: dict) -> list[str]:
    start, after_burst, end = results["rss_start"], results["rss_after_burst"], results["rss_end"]
    rows = []
    for pid in sorted(set(start) | set(end)):
        if pid in start and pid in end:
            growth = end[pid] - start[pid]
            middle = f"{after_burst[pid]:.1f} MB" if pid in after_burst else "n/a"
            rows.append(f"| {pid} | {start[pid]:.1f} MB | {middle} | {end[pid]:.1f} MB | {growth:+.1f} MB |")
        elif pid in start:
            rows.append(f"| {pid} | {start[pid]:.1f} MB | | replaced (recycled) | |")
        else:
            rows.append(f"| {pid} | started later (replacement) | | {end[pid]:.1f} MB | |")
    return rows


def _late_growth(results: dict) -> list[str]:
    """How much the pool processes still grew after the burst: growth that goes on is what would be a leak."""
    after_burst, end, renders = results["rss_after_burst"], results["rss_end"], results["renders_after_burst"]
    growths = [f"{end[pid] - after_burst[pid]:+.1f} MB" for pid in sorted(after_burst) if pid in end]
    if not renders or not growths:
        return []
    return [f"Over the last {renders} renders, after the burst, the pool processes grew {', '.join(growths)}.", ""]


def report(results: dict, args: argparse.Namespace, command: str, max_memory_kib: int) -> str:
    throughput, burst = results["throughput"], results["burst"]
    latencies = burst["latencies"]
    p95 = percentile(latencies, 0.95)
    recycled = set(results["rss_start"]) != set(results["rss_end"])
    growths = [
        results["rss_end"][pid] - results["rss_start"][pid] for pid in results["rss_start"] if pid in results["rss_end"]
    ]
    worst_growth = max(growths) if growths else float("nan")
    task_s = results["task_s"]
    lines = [
        SECTION_START,
        "## PDF worker: throughput, a burst of signings, memory",
        "",
        "Measured by `bench/pdf_burst.py` (not a test): a real worker started with the Procfile's command,",
        "`celery -A pit_portal worker --loglevel INFO`: prefork pool, default concurrency (here"
        f" {len(results['rss_start'])} pool processes",
        f"on {os.cpu_count()} CPUs), at most {max_memory_kib:,} KiB per pool process. The worker is",
        "driven through the real services: `session_sign` queues a visit summary and an aftercare sheet when its",
        "transaction commits; the worker renders, stores (SHA-256, atomic rename, audit event) and, for a patient",
        "with an email address, queues the ready email on the same queue. Realistic notes: the fourth session of a",
        "course, three sites, an adverse event, body map and pain chart, next visit booked.",
        "",
        f"- Command: `{command}`",
        f"- Machine: {machine()}",
        f"- Date: {time.strftime('%Y-%m-%d %H:%M %Z')}",
        f"- Broker `{args.broker.rsplit('@', 1)[-1]}` (own queue); database `{args.database}` on the same server",
        f"- Load average (1/5/15 min) before: {load_average(results['load_before'])};"
        f" after the burst: {load_average(burst['load'])};"
        f" at the end: {load_average(results['load_after'])}",
        "",
        "| measure | result | target | |",
        "| --- | --- | --- | --- |",
        f"| throughput, {throughput['documents']} documents queued at once | "
        f"{throughput['documents'] / throughput['seconds']:.1f} documents/s"
        f" ({throughput['seconds']:.1f} s from the commit to the last READY; the worker used"
        f" {_ms(throughput['worker_cpu_s'] / throughput['documents'])} of CPU per document) | | |",
        f"| burst: {burst['sessions']} notes signed back to back ({burst['signing_s']:.1f} s to sign them all),"
        f" {len(latencies)} documents | enqueue to READY p50 {_ms(statistics.median(latencies))}, p95 {_ms(p95)},"
        f" max {_ms(max(latencies))}; all ready {burst['all_ready_s']:.1f} s after the first was queued"
        f" | all ready < {BURST_TARGET_S} s | {_verdict(burst['all_ready_s'] < BURST_TARGET_S)} |",
        f"| one render task inside the worker ({len(task_s)} runs: context, render, store) |"
        f" p50 {_ms(statistics.median(task_s))}, p95 {_ms(percentile(task_s, 0.95))} | | |",
        f"| pool process RSS growth over {results['renders']:,} renders | largest {worst_growth:+.1f} MB"
        f"{' (pool processes were recycled)' if recycled else ''} | < {RSS_GROWTH_TARGET_MB} MB |"
        f" {_verdict(worst_growth < RSS_GROWTH_TARGET_MB)} |",
        "",
        "RSS of each pool process (from /proc/PID/status), after its start-up warm-up and one session, after the",
        f"burst, and after {results['renders']:,} renders in all (the renders are shared between the pool processes):",
        "",
        "| pool process | start | after the burst | end | growth |",
        "| --- | ---: | ---: | ---: | ---: |",
        *_rss_rows(results),
        "",
        *_late_growth(results),
        *NOTES,
        *RECYCLING_NOTE,
        f"  In this run {'some pool processes were replaced' if recycled else 'no pool process was replaced'}.",
        "",
        SECTION_END,
    ]
    return "\n".join(lines)


NOTES = [
    "Notes:",
    "",
    "- Enqueue is the document row's `enqueued_at`, written in the signing transaction; READY is its `ready_at`,",
    "  written by the worker in the transaction that stores the file. The signing runs in the bench process on the",
    "  same CPUs as the worker and PostgreSQL, as a web process would.",
    "- The burst is CPU-bound: its 400 renders need about 60 CPU-seconds (the CPU per document above), so on this",
    "  two-CPU machine it meets the target only while other work leaves the worker most of both CPUs. Runs of this",
    "  script while other test suites were running (load average 3 to 5) took 67 and 82 s.",
    "- Before and after the fixed-layout tables (bench/pdf_bench.py's notes), this script run back to back with",
    "  `--renders 1`, alternating the two versions: the worker used 177 and 179 ms of CPU per document before,",
    "  155 and 149 ms after (less disturbed by the load than the elapsed times: 44 and 67 s before, 39 and 82 s",
    "  after).",
]
RECYCLING_NOTE = [
    "- Recycling: `CELERY_WORKER_MAX_MEMORY_PER_CHILD` replaces a pool process after a task that leaves it above",
    "  the cap. With the settings' cap a warm pool process is far below it (table above), so none is replaced and",
    "  the growth shown is each process's own over its share of the renders, with or without the cap. A lower cap",
    "  (`--max-memory-per-child`) hides growth by replacing processes, and each replacement pays the start-up",
    "  warm-up (fonts, stylesheet) again.",
]


# --- Main -------------------------------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default=DEFAULT_DATABASE, help=f"bench database (default {DEFAULT_DATABASE})")
    parser.add_argument("--fresh", action="store_true", help="drop and re-create the bench database first")
    parser.add_argument("--broker", default=DEFAULT_BROKER, help=f"Celery broker URL (default {DEFAULT_BROKER})")
    parser.add_argument("--queue", default=f"pdf-bench-{uuid.uuid4().hex[:8]}", help="queue name (default: a new one)")
    parser.add_argument(
        "--throughput-sessions", type=positive_int, default=50, help="notes signed at once (default 50)"
    )
    parser.add_argument(
        "--burst-sessions", type=positive_int, default=200, help="notes signed in the burst (default 200)"
    )
    parser.add_argument("--renders", type=positive_int, default=1000, help="renders in all, for memory (default 1,000)")
    parser.add_argument("--max-memory-per-child", type=int, help="KiB; default: the settings' value (0: no cap)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait for a phase (default 600)")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "performance.md")
    parser.add_argument("--keep-files", action="store_true", help="keep the worker log, PDFs and emails")
    return parser.parse_args()


def worker_env(args: argparse.Namespace, folder: Path) -> dict:
    env = {
        **os.environ,  # DATABASE_URL is already the bench database's (see main)
        "CELERY_BROKER_URL": args.broker,
        "CELERY_QUEUE": args.queue,
        "DOCUMENTS_ROOT": str(folder / "documents"),
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(folder / "mail"),
    }
    if args.max_memory_per_child is not None:
        env["CELERY_WORKER_MAX_MEMORY_PER_CHILD"] = str(args.max_memory_per_child)
    return env


def main() -> None:
    args = parse_args()
    create_database(args.database, fresh=args.fresh)
    # Before Django starts: this process, and the worker it starts, use the bench's database, broker and queue.
    os.environ["DATABASE_URL"] = database_url(args.database)
    os.environ["CELERY_BROKER_URL"] = args.broker
    os.environ["CELERY_QUEUE"] = args.queue
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    folder = Path(tempfile.mkdtemp(prefix="pdf-burst-"))
    worker = Worker(env=worker_env(args, folder), folder=folder)
    try:
        results = run(args, worker)
    finally:
        worker.stop()
        remove_queue(args.queue)
    max_memory_kib = int(
        worker.env.get("CELERY_WORKER_MAX_MEMORY_PER_CHILD", settings.CELERY_WORKER_MAX_MEMORY_PER_CHILD)
    )
    command = " ".join(["DATABASE_URL=postgres://... .venv/bin/python", "bench/pdf_burst.py", *sys.argv[1:]])
    text = report(results, args, command, max_memory_kib)
    write_section(args.output, SECTION, text)
    print(text)
    if args.keep_files:
        print(f"worker log, PDFs and emails kept in {folder}")
    else:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
