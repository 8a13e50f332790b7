"""Load benchmark of the portal's key pages under gunicorn, beside the floor of a minimal Django view. Not a test.

    make bench                                   # 2,000 patients, 20 concurrent clients
    make bench BENCH_ARGS="--patients 500 --clients 5 --requests 60"
    make bench BENCH_ARGS="--pooled"             # through PgBouncer, two portal instances
    DATABASE_URL=postgres://... .venv/bin/python bench/load_bench.py --patients 500

It seeds its own database (BENCH_DATABASE, default pit_bench, on the DATABASE_URL server; created, migrated and
seeded with `manage.py seed_scale` when empty, reused when it already holds that many patients, rebuilt with
--fresh), starts gunicorn as the Procfile does (WEB_CONCURRENCY workers, default one per CPU; DEBUG=0, collected
static files served by WhiteNoise) plus a second gunicorn serving bench/floor_wsgi.py, both through
bench/timed_wsgi.py, signs the bench users in by writing their sessions directly (staff sessions second-factor
verified), then drives each page with concurrent clients. Server time per request comes from gunicorn's access
log (the time the application took to build the response, and its CPU, from bench/timed_wsgi.py; not the wait
for a free worker); queries per page are counted in-process with the test client against the same database.
Every portal worker shares one Redis cache (--cache-url, emptied at the start), as on several hosts in production.

With --pooled the portal runs as two web hosts would: two gunicorn instances sharing the --workers between them,
each reaching the database through Debian's PgBouncer in transaction pooling mode (tests/deployment/processes.py),
and the clients' requests go to the two in turn; the floor stays direct.
The results go into their own section of docs/performance.md, one for each way.
"""

import argparse
import contextlib
import http.client
import itertools
import os
import random
import re
import secrets
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode, urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.report import load_average, machine, percentile, positive_int, section_markers, write_section  # noqa: E402
from tests.deployment.processes import PGBOUNCER, PgBouncer, free_port  # noqa: E402

PYTHON = sys.executable
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
VAR_DIR = ROOT / "var" / "bench"
DEFAULT_DATABASE = "pit_bench"
# The targets: p95 server time at most this many milliseconds or this many times the floor's, whichever is larger;
# the calendar's first view of a day just changed by a booking, at most its own figure.
FLOOR_RATIO_TARGET = 10
ABSOLUTE_TARGET_MS = 50
CHANGED_DAY_TARGET_MS = 80
QUERY_TARGET = 12
# The outcomes report reads every course started in its period (a year by default) and sums them up as it is asked:
# a second at most.
OUTCOMES_REPORT_TARGET_MS = 1000
SEARCH_DB_TARGET_MS = 30
CLIENT_NICENESS = 10
SECTION, POOLED_SECTION = "load-bench", "load-bench-pooled"
# The cache both ways share, so the calendars' grids one worker renders are served by every other, as in production.
DEFAULT_CACHE_URL = "redis://127.0.0.1:6379/9"
# Page, status, then microseconds: in the worker (gunicorn's own figure, writing the response included), building
# the response, and the worker's CPU for it (the last two from bench/timed_wsgi.py).
ACCESS_LOG_FORMAT = "%({x-bench-page}i)s %(s)s %(D)s %({x-bench-app-microseconds}o)s %({x-bench-cpu-microseconds}o)s"
WARM = "warm"


# --- The database -----------------------------------------------------------------------------------------------


def _with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def _admin_connection(url: str):
    import psycopg

    return psycopg.connect(_with_database(url, "postgres"), autocommit=True)


def checkpoint(url: str) -> str:
    """A CHECKPOINT now, so that PostgreSQL's next timed one (checkpoint_timeout, five minutes by default) does not
    fall inside the timed requests of some runs and not others: while it writes the pages changed since the last,
    and every page first changed after it goes to the WAL whole, requests on this machine's disk ran slower."""
    import psycopg

    try:
        with _admin_connection(url) as connection:
            connection.execute("CHECKPOINT")
    except psycopg.Error as error:
        return f"not taken ({error.diag.message_primary or error})"
    return "taken just before the timed requests"


def _patients_in(url: str) -> int | None:
    """Patients in the bench database; None if it does not exist or is not migrated."""
    import psycopg

    try:
        with psycopg.connect(url) as connection:
            return connection.execute("SELECT count(*) FROM patients_patient").fetchone()[0]
    except psycopg.OperationalError:
        return None
    except psycopg.errors.UndefinedTable:
        return None


def _manage(env: dict, *args: str, quiet: bool = False) -> None:
    output = subprocess.DEVNULL if quiet else None
    # Our own arguments only.
    subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=env, check=True, stdout=output, stderr=output)  # noqa: S603


def prepare_database(server_url: str, name: str, patients: int, fresh: bool, env: dict) -> float | None:
    """The bench database holding `patients` patients; returns the seeding time when it had to seed."""
    import psycopg
    from psycopg import sql

    url = _with_database(server_url, name)
    found = _patients_in(url)
    if fresh or found is None:
        with _admin_connection(server_url) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        found = None
    if found and found != patients:
        sys.exit(f"Database {name} holds {found:,} patients, not {patients:,}: pass --fresh to rebuild it.")
    print(f"Migrating database {name} ...")
    _manage(env, "migrate", "--no-input", "-v", "0")
    if found == patients:
        print(f"Reusing database {name} ({patients:,} patients); --fresh rebuilds it.")
        return None
    started = time.perf_counter()
    _manage(env, "seed_scale", "--patients", str(patients), "--seed", "1")
    seconds = time.perf_counter() - started
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE")  # as a database that has been running a while: visibility map set
    return seconds


def collect_static(env: dict) -> list[str]:
    """collectstatic as a deployment runs it (hashed names); if that fails, plain names, said in the report."""
    try:
        _manage(env, "collectstatic", "--no-input", "-v", "0", quiet=True)
    except subprocess.CalledProcessError:
        print("collectstatic failed with the manifest storage; collecting under plain names instead.")
        env["STATIC_MANIFEST"] = "0"
        _manage(env, "collectstatic", "--no-input", "-v", "0")
        return ["collectstatic failed with the production (manifest) storage, so static files were collected"
                " under plain names (STATIC_MANIFEST=0); pages and their queries are the same."]  # fmt: skip
    return []


def empty_cache(url: str) -> None:
    """Start from an empty shared cache, so no run is served what an earlier one rendered."""
    if not url:
        return
    import redis

    try:
        redis.Redis.from_url(url).flushdb()
    except redis.RedisError as error:
        sys.exit(f"The cache at {url} did not answer ({error}): start Redis, or pass --cache-url ''.")


def bench_environment(database_url: str, cache_url: str) -> dict:
    """Production settings, on loopback: no debug, no HTTPS redirect, collected static files, the shared cache (an
    empty CACHE_URL: each process its own memory cache)."""
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "CACHE_URL": cache_url,
        "DEBUG": "0",
        "SECURE": "0",
        "STATIC_MANIFEST": "1",
        "SECRET_KEY": os.environ.get("SECRET_KEY") or secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
        # Static files, documents and the Celery filesystem broker's folders, apart from anyone else's.
        "PIT_VAR_DIR": str(VAR_DIR),
        "DJANGO_SETTINGS_MODULE": "pit_portal.settings",
    }


# --- Who signs in, and what they open ----------------------------------------------------------------------------


@dataclass
class Fixtures:
    """Ids and signed-in sessions the pages are driven with, read from the seeded database."""

    sessions: dict[str, list[str]]  # role: one session key per client
    search_terms: list[str]
    patients: list[int]
    courses: list[int]
    active_courses: list[int]
    booking_patients: list[int]
    clinicians: list[int]
    nerves: list[int]
    day: date
    booking_start: date
    appointment_type: int
    counts: dict[str, int] = field(default_factory=dict)


def _signed_in_session(user, device) -> str:
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.utils.module_loading import import_string
    from django_otp import DEVICE_ID_SESSION_KEY

    from accounts import session_policy

    store = import_string(f"{settings.SESSION_ENGINE}.SessionStore")()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "accounts.backends.RoleBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    if device is not None:
        store[DEVICE_ID_SESSION_KEY] = device.persistent_id  # what django_otp.login() stores after a code
    session_policy.start(store, user)  # what the user_logged_in handler writes at sign-in
    store.create()
    return store.session_key


def _confirmed_device(user):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    return device or TOTPDevice.objects.create(user=user, name="Bench authenticator", confirmed=True)


def _misspelt(name: str) -> str:
    middle = len(name) // 2
    return name[:middle] + name[middle + 1 :]


def _busiest_day(today: date) -> date:
    """The weekday within two weeks of today with the most appointments: a full day on the calendar."""
    from django.db.models import Count
    from django.db.models.functions import TruncDate
    from django.utils import timezone

    from scheduling.models import Appointment

    window = Appointment.objects.filter(
        starts_at__date__gte=today - timedelta(days=14), starts_at__date__lte=today + timedelta(days=14)
    )
    days = window.annotate(day=TruncDate("starts_at", tzinfo=timezone.get_current_timezone()))
    busiest = days.values("day").annotate(n=Count("id")).order_by("-n", "-day").first()
    return busiest["day"] if busiest else today


def prepare_fixtures(clients: int) -> Fixtures:
    from django.db.models import Max
    from django.utils import timezone

    from accounts.models import User
    from assessments.models import Nerve
    from documents.models import DocumentStatus
    from patients.models import Patient
    from pit_portal.scale.setup import CLINICIAN_USERNAME, FRONT_DESK_USERNAME
    from scheduling.models import Appointment, AppointmentType
    from treatments.models import CourseStatus, InjectionSession, InjectionSite, TreatmentCourse

    rng = random.Random(1)
    clinician = User.objects.get(username=CLINICIAN_USERNAME.format(1))
    desk = User.objects.get(username=FRONT_DESK_USERNAME.format(1))
    portal_users = list(
        User.objects.filter(patient__documents__status=DocumentStatus.READY).distinct().order_by("pk")[:clients]
    )
    if not portal_users:
        sys.exit("The seeded data has no portal user with documents: seed more patients.")
    sessions = {
        "clinician": [_signed_in_session(clinician, _confirmed_device(clinician)) for _ in range(clients)],
        "desk": [_signed_in_session(desk, _confirmed_device(desk)) for _ in range(clients)],
        "patient": [_signed_in_session(portal_users[n % len(portal_users)], None) for n in range(clients)],
    }
    names = list(Patient.objects.filter(family_name__regex=r"^[A-Za-z]{7,}$").values_list("family_name", flat=True))
    patient_ids = list(Patient.objects.filter(courses__isnull=False).distinct().values_list("pk", flat=True))
    all_patients = list(Patient.objects.values_list("pk", flat=True))
    course_ids = list(TreatmentCourse.objects.filter(sessions__isnull=False).distinct().values_list("pk", flat=True))
    today = timezone.localdate()
    # Courses a session can be written in today: active, started, the patient consented and free of infection.
    active = TreatmentCourse.objects.filter(
        status=CourseStatus.ACTIVE,
        started_on__lte=today,
        patient__intake__infection_or_open_wound=False,
        patient__consents__isnull=False,
    )
    monday = today - timedelta(days=today.weekday()) + timedelta(weeks=BOOKING_WEEKS_AHEAD)
    # Past the bookings of any earlier run on this database, so that none of this run's slots is taken.
    last = Appointment.objects.aggregate(last=Max("starts_at"))["last"]
    if last is not None and timezone.localtime(last).date() >= monday:
        last_day = timezone.localtime(last).date()
        monday = last_day - timedelta(days=last_day.weekday()) + timedelta(weeks=1)
    return Fixtures(
        sessions=sessions,
        search_terms=[_misspelt(name) for name in rng.sample(names, min(50, len(names)))],
        patients=rng.sample(patient_ids, min(300, len(patient_ids))),
        courses=rng.sample(course_ids, min(300, len(course_ids))),
        active_courses=list(active.distinct().order_by("pk").values_list("pk", flat=True)[: max(clients, 50)]),
        booking_patients=rng.sample(all_patients, min(200, len(all_patients))),
        clinicians=list(
            User.objects.filter(username__startswith="scale-clinician-").order_by("pk").values_list("pk", flat=True)
        ),
        nerves=list(Nerve.objects.filter(active=True).order_by("pk").values_list("pk", flat=True)[:4]),
        day=_busiest_day(today),
        booking_start=monday,
        appointment_type=AppointmentType.objects.get(code="pit-session").pk,
        counts={
            "patients": Patient.objects.count(),
            "sessions": InjectionSession.objects.count(),
            "sites": InjectionSite.objects.count(),
            "appointments": Appointment.objects.count(),
        },
    )


# --- The pages ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    data: dict | None = None


@dataclass
class Page:
    """A key page: who opens it, the request for the n-th visit, and the answer that counts as success."""

    name: str
    role: str
    build: Callable[[int, "Fixtures", "ClientState"], Request | None]
    method: str = "GET"
    ok_status: int = 200
    ok_location: str = ""
    # Whether this client has something to send (signing needs a draft it saved).
    ready: Callable[["ClientState"], bool] = lambda state: True
    # A request sent first and not timed (the booking that changes the day a calendar then shows).
    before: Callable[[int, "Fixtures", "ClientState"], Request] | None = None
    target_ms: float | None = None  # an absolute p95 target of its own, in place of the usual pair

    def p95_target(self, floor_p95: float) -> float:
        return self.target_ms or max(ABSOLUTE_TARGET_MS, FLOOR_RATIO_TARGET * floor_p95)

    def succeeded(self, status: int, location: str) -> bool:
        return status == self.ok_status and re.search(self.ok_location, location or "") is not None


@dataclass
class ClientState:
    """What one simulated user keeps between requests: its form tokens, the drafts it saved and will sign."""

    index: int
    csrf: dict[str, str] = field(default_factory=dict)
    drafts: list[int] = field(default_factory=list)
    booked_day: str = ""  # the day of this client's last booking


SLOTS_PER_DAY = 24  # twelve 20-minute slots each side of the lunch break
BOOKING_WEEKS_AHEAD = 60  # beyond anything the seed booked, so bench bookings never clash with it
_booking_slots = itertools.count()
_booking_lock = threading.Lock()


def _booking_slot(fixtures: Fixtures) -> tuple[int, str]:
    """A clinician and start time nobody else books in this run: days far beyond the seeded diary."""
    with _booking_lock:
        slot = next(_booking_slots)
    per_day = SLOTS_PER_DAY * len(fixtures.clinicians)
    weeks, weekday = divmod(slot // per_day, 5)  # working days only, from a Monday
    day = fixtures.booking_start + timedelta(weeks=weeks, days=weekday)
    clinician = fixtures.clinicians[(slot % per_day) // SLOTS_PER_DAY]
    index = slot % SLOTS_PER_DAY
    minute = (8 * 60 + 30 if index < 12 else 13 * 60 + 30) + (index % 12) * 20
    return clinician, f"{day.isoformat()}T{minute // 60:02d}:{minute % 60:02d}"


def _session_form(fixtures: Fixtures, course: int) -> Request:
    from django.utils import timezone

    now = timezone.localtime()
    data = {
        "performed_at": now.strftime("%Y-%m-%dT%H:%M"),
        "consent_confirmed": "on",
        "pre_nrs": "6",
        "post_nrs": "2",
        "dextrose_percent": "5.0",
        "diluent": "water",
        "additive": "none",
        "additive_percent": "",
        "lot_number": "DX-4711",
        "lot_expiry": (now.date() + timedelta(days=200)).isoformat(),
        "technique": "subcutaneous",
        "needle_gauge": "27G",
        "aftercare_given": "on",
        "next_interval_days": "7",
        "notes": "Bench session.",
        "alert_override_reason": "",
        "sites-TOTAL_FORMS": "2",
        "sites-INITIAL_FORMS": "0",
        "sites-MIN_NUM_FORMS": "0",
        "sites-MAX_NUM_FORMS": "30",
        "events-TOTAL_FORMS": "0",
        "events-INITIAL_FORMS": "0",
        "events-MIN_NUM_FORMS": "0",
        "events-MAX_NUM_FORMS": "10",
    }
    for row, nerve in enumerate(fixtures.nerves[:2]):
        data |= {f"sites-{row}-nerve": str(nerve), f"sites-{row}-side": "left", f"sites-{row}-points": "6",
                 f"sites-{row}-volume_per_point_ml": "0.5"}  # fmt: skip
    return Request("POST", f"/courses/{course}/sessions/new/", data)


def _pick(values: list, n: int):
    return values[n % len(values)]


def _sign(n: int, fixtures: Fixtures, state: ClientState) -> Request | None:
    if not state.drafts:
        return None
    return Request("POST", f"/sessions/{state.drafts.pop(0)}/sign/", {})


def _book(n: int, fixtures: Fixtures, state: ClientState) -> Request:
    clinician, starts_at = _booking_slot(fixtures)
    data = {
        "patient": str(_pick(fixtures.booking_patients, n)),
        "clinician": str(clinician),
        "appointment_type": str(fixtures.appointment_type),
        "starts_at": starts_at,
        "course": "",
        "notes": "",
        "confirm_clash": "",
    }
    return Request("POST", "/appointments/book/", data)


def _book_for_calendar(n: int, fixtures: Fixtures, state: ClientState) -> Request:
    request = _book(n, fixtures, state)
    assert request.data is not None
    state.booked_day = request.data["starts_at"][:10]
    return request


def _changed_day(n: int, fixtures: Fixtures, state: ClientState) -> Request:
    return Request("GET", f"/calendar/day/?date={state.booked_day}")


def _save(n: int, fixtures: Fixtures, state: ClientState) -> Request:
    # One course per client, so two clients never number sessions in the same course at once.
    return _session_form(fixtures, _pick(fixtures.active_courses, state.index))


def _get(path: Callable[[int, Fixtures], str]) -> Callable[[int, Fixtures, ClientState], Request]:
    return lambda n, fixtures, state: Request("GET", path(n, fixtures))


PAGES = [
    Page("patient search", "desk", _get(lambda n, f: "/patients/?" + urlencode({"q": _pick(f.search_terms, n)}))),
    Page("patient page", "clinician", _get(lambda n, f: f"/patients/{_pick(f.patients, n)}/")),
    Page("course page", "clinician", _get(lambda n, f: f"/courses/{_pick(f.courses, n)}/")),
    Page("session save", "clinician", _save, "POST", 302, r"^/sessions/\d+/$"),
    Page("session sign", "clinician", _sign, "POST", 302, r"^/sessions/\d+/$", lambda state: bool(state.drafts)),
    Page("day calendar", "desk", _get(lambda n, f: f"/calendar/day/?date={f.day.isoformat()}")),
    Page("week calendar", "desk", _get(lambda n, f: f"/calendar/week/?date={f.day.isoformat()}")),
    Page("booking", "desk", _book, "POST", 302),
    Page(
        "day calendar after a booking", "desk", _changed_day, before=_book_for_calendar, target_ms=CHANGED_DAY_TARGET_MS
    ),
    Page("portal documents", "patient", _get(lambda n, f: "/portal/documents/")),
    Page("outcomes report", "clinician", _get(lambda n, f: "/outcomes/report/"), target_ms=OUTCOMES_REPORT_TARGET_MS),
]
FLOOR = Page("minimal view (floor)", "clinician", _get(lambda n, f: "/floor/"))
# Pages whose GET carries a form: each client reads its CSRF token there before posting.
FORM_PAGES = {"clinician": lambda f, s: f"/courses/{_pick(f.active_courses, s.index)}/sessions/new/",
              "desk": lambda f, s: "/appointments/book/"}  # fmt: skip


# --- HTTP clients ------------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    page: str
    status: int
    ok: bool
    seconds: float


class Browser:
    """One simulated user: their session cookie, the CSRF cookie, one connection per request (gunicorn's sync
    workers close each connection after the response, as they do in production), each request sent to the next
    of the portal's instances, as a round-robin load balancer would: `ports` is shared by every client (sessions are
    in the database, so any instance serves them).

    A save or booking answers with a redirect and a message for the page it sends the browser on to. A browser
    follows it and that page shows the message and clears its cookie; these clients do not follow redirects
    (the page they would land on is not the one measured), so they drop the message cookie a redirect sets,
    which would otherwise pile up every message of the run and make each save read and re-sign them all."""

    def __init__(self, ports: Iterator[int], session_key: str, session_cookie: str, messages_cookie: str):
        self.ports = ports
        self.cookies = {session_cookie: session_key}
        self.messages_cookie = messages_cookie

    def send(self, request: Request, page: str) -> tuple[int, str, str, float]:
        port = next(self.ports)
        headers = {"Host": f"127.0.0.1:{port}", "X-Bench-Page": page}
        headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        body = None
        if request.data is not None:
            body = urlencode(request.data)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        started = time.perf_counter()
        try:
            connection.request(request.method, request.path, body=body, headers=headers)
            response = connection.getresponse()
            text = response.read().decode("utf-8", "replace")
        finally:
            connection.close()
        seconds = time.perf_counter() - started
        for header in response.headers.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(header).items():
                self.cookies[name] = morsel.value
        if 300 <= response.status < 400:
            self.cookies.pop(self.messages_cookie, None)
        return response.status, response.headers.get("Location", ""), text, seconds


CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
TITLE = re.compile(r"<title>(.*?)</title>", re.S)


def _first_failure(failures: dict, page: str, status: int, location: str, text: str) -> None:
    if page not in failures:
        title = TITLE.search(text)
        failures[page] = f"HTTP {status} {location} {title.group(1).strip()[:80] if title else ''}".strip()


def _sent_before(page: Page, n: int, browser: Browser, fixtures: Fixtures, state: ClientState,
                 failures: dict) -> bool:  # fmt: skip
    """Send the page's untimed first request; whether it succeeded (a redirect, as a booking answers)."""
    assert page.before is not None
    request = page.before(n, fixtures, state)
    if request.data is not None:
        request.data["csrfmiddlewaretoken"] = state.csrf[page.role]
    status, location, text, _ = browser.send(request, WARM)
    if status != 302:
        _first_failure(failures, page.name, status, location, text)
    return status == 302


def drive(page: Page, requests: int, browsers: list[dict[str, Browser]], states: list[ClientState],
          fixtures: Fixtures, failures: dict, label: str | None = None) -> list[Outcome]:  # fmt: skip
    """`requests` visits of the page shared among the clients, each client one request at a time."""
    counter = itertools.count()
    lock = threading.Lock()
    outcomes: list[Outcome] = []

    def client(index: int) -> None:
        browser, state = browsers[index][page.role], states[index]
        while page.ready(state):
            with lock:
                n = next(counter)
            if n >= requests:
                return
            try:
                if page.before and not _sent_before(page, n, browser, fixtures, state, failures):
                    with lock:
                        outcomes.append(Outcome(page.name, 0, False, 0.0))
                    continue
                request = page.build(n, fixtures, state)
                if request is None:
                    return
                if request.data is not None:
                    request.data["csrfmiddlewaretoken"] = state.csrf[page.role]
                status, location, text, seconds = browser.send(request, label or page.name)
            except OSError as error:
                with lock:
                    outcomes.append(Outcome(page.name, 0, False, 0.0))
                    failures.setdefault(page.name, f"connection error: {error}")
                continue
            ok = page.succeeded(status, location)
            if ok and page.name == "session save":
                state.drafts.append(int(location.strip("/").split("/")[-1]))
            with lock:
                outcomes.append(Outcome(page.name, status, ok, seconds))
                if not ok:
                    _first_failure(failures, page.name, status, location, text)

    threads = [threading.Thread(target=client, args=(index,)) for index in range(len(states))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def read_csrf_tokens(browsers: list[dict[str, Browser]], states: list[ClientState], fixtures: Fixtures) -> None:
    for browser, state in zip(browsers, states, strict=True):
        for role, form_path in FORM_PAGES.items():
            status, _, text, _ = browser[role].send(Request("GET", form_path(fixtures, state)), WARM)
            found = CSRF_INPUT.search(text)
            if status != 200 or not found:
                sys.exit(f"Could not open the {role}'s form page ({status}); is the bench user signed in?")
            state.csrf[role] = found.group(1)


# --- Servers -----------------------------------------------------------------------------------------------------


def _wait_until_up(port: int, path: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"gunicorn stopped on start:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(OSError):
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", path, headers={"X-Bench-Page": WARM})
            if connection.getresponse().status < 500:
                return
        time.sleep(0.3)
    sys.exit(f"gunicorn did not answer on port {port}:\n{log.read_text()[-3000:]}")


@contextlib.contextmanager
def gunicorn(app: str, env: dict, workers: int, name: str, ready_path: str) -> Iterator[tuple[int, Path]]:
    """gunicorn as the Procfile runs it (sync workers), on loopback, logging each request's time in the worker."""
    port = free_port()
    access_log, error_log = VAR_DIR / f"{name}-access.log", VAR_DIR / f"{name}-error.log"
    access_log.unlink(missing_ok=True)
    env = {**env, "BENCH_WSGI_APP": app}  # served through bench/timed_wsgi.py, which times the application
    command = [GUNICORN, "bench.timed_wsgi", "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
               "--chdir", str(ROOT), "--access-logfile", str(access_log), "--access-logformat", ACCESS_LOG_FORMAT,
               "--error-logfile", str(error_log)]  # fmt: skip
    with open(error_log, "ab") as output:  # the workers' own prints (e.g. kombu's) go to the log, not the table
        process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT)  # noqa: S603
    try:
        _wait_until_up(port, ready_path, process, error_log)
        yield port, access_log
    finally:
        process.terminate()
        process.wait(timeout=60)


def split_workers(workers: int) -> list[int]:
    """The workers of one server shared between two instances, at least one each."""
    return [max(1, workers // 2), max(1, workers - workers // 2)]


@dataclass
class Portal:
    """The portal's gunicorn instances the clients share, and the PgBouncer in front of the database if pooled."""

    ports: list[int]
    access_logs: list[Path]
    bouncer: PgBouncer | None


@contextlib.contextmanager
def portal(args: argparse.Namespace, env: dict) -> Iterator[Portal]:
    """One gunicorn with --workers workers on the database; or, pooled, PgBouncer in transaction pooling mode in
    front of it and two gunicorn instances sharing the --workers, as two web hosts would be set up."""
    with contextlib.ExitStack() as stack:
        bouncer, instances = None, [("portal", args.workers, env)]
        if args.pooled:
            bouncer = PgBouncer(env["DATABASE_URL"], log_connections=True).start()
            stack.callback(bouncer.remove)
            pooled_env = {**env, "DATABASE_URL": bouncer.url(args.database), "DATABASE_TRANSACTION_POOLING": "1",
                          "DATABASE_DIRECT_URL": env["DATABASE_URL"]}  # fmt: skip
            halves = split_workers(args.workers)
            instances = [(f"portal-{n}", workers, pooled_env) for n, workers in enumerate(halves, 1)]
        servers = [stack.enter_context(gunicorn("pit_portal.wsgi", instance_env, workers, name, "/accounts/login/"))
                   for name, workers, instance_env in instances]  # fmt: skip
        yield Portal([port for port, _ in servers], [log for _, log in servers], bouncer)


def connections_opened(bouncer: PgBouncer | None) -> tuple[int, int]:
    """Connections opened so far: sessions PostgreSQL started on the bench database, and logins to PgBouncer (its
    log's). Read before and after the timed requests, they show whether the workers keep their connections."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")
        sessions = cursor.fetchone()[0]
    logins = bouncer.log.read_text().count(" login attempt: ") if bouncer else 0
    return sessions, logins


@dataclass
class ServerTimes:
    """Milliseconds per request of one page, from the access log."""

    worker: list[float] = field(default_factory=list)  # gunicorn's time in the worker, writing included
    app: list[float] = field(default_factory=list)  # building the response: the server time the targets use
    cpu: list[float] = field(default_factory=list)  # the worker's CPU for it


def server_times(*access_logs: Path) -> dict[str, ServerTimes]:
    """Each page's times, by its label (the X-Bench-Page header), from every server's access log."""
    times: dict[str, ServerTimes] = defaultdict(ServerTimes)
    for line in itertools.chain.from_iterable(log.read_text().splitlines() for log in access_logs):
        label, _status, *micros = line.rsplit(" ", 4)
        if label in ("-", WARM) or not all(value.isdigit() for value in micros):
            continue
        found = times[label]
        for series, value in zip((found.worker, found.app, found.cpu), micros, strict=True):
            series.append(int(value) / 1000)
    return times


# --- In-process measurements -------------------------------------------------------------------------------------


class QueryTimer:
    """An execute wrapper adding up the time queries take, from sending each to its answer (Django's own record
    of a query rounds its time to the millisecond, a page's whole query time at this size)."""

    def __init__(self):
        self.seconds = 0.0

    def __call__(self, execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.seconds += time.perf_counter() - started


def count_queries(fixtures: Fixtures) -> dict[str, tuple[int, float]]:
    """(queries, their total time in ms) for one request of each page, after one warm-up request."""
    from django.conf import settings
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    clients = {}
    for role, keys in fixtures.sessions.items():
        clients[role] = Client(HTTP_HOST="127.0.0.1")
        clients[role].cookies[settings.SESSION_COOKIE_NAME] = keys[-1]
    state = ClientState(index=0)
    found = {}
    for page in PAGES:
        for attempt in range(2):
            client = clients[page.role]
            if page.before:
                booking = page.before(attempt, fixtures, state)
                client.post(booking.path, booking.data)
            request = page.build(attempt, fixtures, state)
            timer = QueryTimer()
            with CaptureQueriesContext(connection) as queries, connection.execute_wrapper(timer):
                response = client.generic(request.method, request.path, urlencode(request.data or {}),
                                          content_type="application/x-www-form-urlencoded")  # fmt: skip
            location = response.get("Location", "")
            if page.name == "session save" and response.status_code == 302:
                state.drafts.append(int(location.strip("/").split("/")[-1]))
            if not page.succeeded(response.status_code, location):
                found[page.name] = (-1, 0.0)
                break
            found[page.name] = (len(queries), timer.seconds * 1000)
    return found


def explain_search(term: str) -> tuple[float, bool]:
    """EXPLAIN ANALYZE of the search page's ranked query for its first page: execution ms, and whether the word
    was looked up in the known names' trigram index."""
    from patients.search import PATIENTS_PER_PAGE, as_result_rows, patient_search

    plan = as_result_rows(patient_search(term))[:PATIENTS_PER_PAGE].explain(analyze=True)
    executed = re.search(r"Execution Time: ([\d.]+) ms", plan)
    return (float(executed.group(1)) if executed else -1.0), "knownname_trgm" in plan


# --- Report ------------------------------------------------------------------------------------------------------


@dataclass
class Row:
    name: str
    requests: int
    errors: int
    times: ServerTimes
    client: list[float]
    queries: tuple[int, float] | None

    @property
    def server(self) -> list[float]:
        return self.times.app


def _rows(outcomes: list[Outcome], times: dict[str, ServerTimes], queries: dict) -> list[Row]:
    by_page: dict[str, list[Outcome]] = defaultdict(list)
    for outcome in outcomes:
        by_page[outcome.page].append(outcome)
    return [
        Row(page.name, len(by_page[page.name]), sum(not o.ok for o in by_page[page.name]),
            times.get(page.name, ServerTimes()), [o.seconds * 1000 for o in by_page[page.name] if o.ok],
            queries.get(page.name))
        for page in [FLOOR, *PAGES]
    ]  # fmt: skip


def render_table(rows: list[Row]) -> list[str]:
    floor_p95 = percentile(rows[0].server, 0.95) or 1e-9
    floor_cpu = percentile(rows[0].times.cpu, 0.5) or 1e-9
    lines = [
        "| page | requests | errors | server p50 | server p95 | server p99 | p95 ÷ floor | in worker p95 | client p95"
        " | CPU p50 | CPU ÷ floor | queries | DB ms | |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for index, (row, page) in enumerate(zip(rows, [FLOOR, *PAGES], strict=True)):
        p95 = percentile(row.server, 0.95)
        queries, db_ms = row.queries if row.queries else (None, None)
        if index == 0:
            verdict, ratio = "floor", "1.0"
        else:
            meets = p95 <= page.p95_target(floor_p95) and row.errors == 0
            meets = meets and queries is not None and 0 <= queries <= QUERY_TARGET
            verdict, ratio = ("meets targets" if meets else "**misses**"), f"{p95 / floor_p95:.1f}"
        query_text = "n/a" if queries is None else ("failed" if queries < 0 else str(queries))
        db_text = "" if db_ms is None or queries is None or queries < 0 else f"{db_ms:.1f}"
        cpu = percentile(row.times.cpu, 0.5)
        lines.append(
            f"| {row.name} | {row.requests} | {row.errors} | {percentile(row.server, 0.5):.1f} ms | {p95:.1f} ms"
            f" | {percentile(row.server, 0.99):.1f} ms | {ratio} | {percentile(row.times.worker, 0.95):.1f} ms"
            f" | {percentile(row.client, 0.95):.1f} ms | {cpu:.1f} ms | {cpu / floor_cpu:.1f}"
            f" | {query_text} | {db_text} | {verdict} |"
        )
    return lines


def _cache_text(url: str) -> str:
    if not url:
        return "each process its own memory cache (--cache-url '')"
    return f"Redis at {url}, one cache for every portal worker, emptied at the start"


def _pgbouncer_version() -> str:
    # The installed pgbouncer, with an argument of our own.
    found = subprocess.run([PGBOUNCER, "--version"], capture_output=True, text=True, check=False)  # noqa: S603
    return found.stdout.splitlines()[0] if found.stdout else "PgBouncer"


def _workers_note(workers: int) -> str:
    return (
        "one per CPU, as the Procfile"
        if workers == os.cpu_count()
        else f"--workers; the Procfile's is {os.cpu_count()}"
    )


def _introduction(args, context: dict) -> list[str]:
    if args.pooled:
        return [
            "## Page load through PgBouncer, on two portal instances",
            "",
            "Measured by `bench/load_bench.py --pooled` as the section above, with the portal set up as two web hosts",
            "would be: two gunicorn instances sharing the workers, each reaching the database through PgBouncer in",
            "transaction pooling mode, and the clients' requests sent to the two in turn. Server times are",
            "gathered from both instances' access logs; queries are counted in-process, as above. The clients used",
            f"{context['client_cpu_ms']:.2f} ms of CPU per request.",
        ]
    return [
        "## Page load under concurrent clients",
        "",
        "Measured by `bench/load_bench.py` (not a test; `make bench`). Server time is the time the application took",
        "to build each response, from the request reaching it to the response being handed back to gunicorn",
        '(bench/timed_wsgi.py). "In worker" is gunicorn\'s own time for the request, which adds reading it and',
        "writing the response to the socket; the client p95 adds the wait for a free worker too. CPU is the worker's",
        "own for the request, which the machine's load inflates far less than it does time. The clients run at a lower",
        f"priority than the servers (nice {CLIENT_NICENESS}), as clients on their own machines would take none of the",
        f"servers' CPU; they used {context['client_cpu_ms']:.2f} ms of CPU per request. Queries and DB ms (the",
        "queries' waits for their answers, added up) are for one request of the page, in-process, after a warm-up",
        "request. The floor is a view that returns two bytes behind the same settings and middleware",
        "(bench/floor_wsgi.py), requested",
        "signed in as a clinician; its p95 is the unit of the ratio columns, which compare across machines.",
    ]


def _servers(args, context: dict) -> list[str]:
    if not args.pooled:
        return [f"- gunicorn: {args.workers} sync workers ({_workers_note(args.workers)}), DEBUG=0"]
    workers = split_workers(args.workers)
    return [
        f"- gunicorn: two portal instances with {' + '.join(map(str, workers))} sync workers ({sum(workers)} in all;"
        f" the direct run's {args.workers}: {_workers_note(args.workers)}), DEBUG=0; the floor's gunicorn as in the"
        " direct run, connecting directly",
        f"- PgBouncer: {context['pgbouncer']} (Debian's), transaction pooling, default_pool_size"
        f" {context['pool_size']}; both instances with DATABASE_URL on it and DATABASE_TRANSACTION_POOLING=1",
    ]


def report(args, rows: list[Row], fixtures: Fixtures, context: dict) -> str:
    search_ms, uses_trigram = context["search"]
    seeded = context["seed_seconds"]
    sessions, logins = context["connections"]
    start, end = section_markers(POOLED_SECTION if args.pooled else SECTION)
    lines = [
        start,
        *_introduction(args, context),
        "",
        f"- Command: `{context['command']}`",
        f"- Machine: {machine()}",
        f"- Date: {datetime.now().astimezone():%Y-%m-%d %H:%M %Z}",
        f"- Data: {fixtures.counts['patients']:,} patients, {fixtures.counts['sessions']:,} sessions,"
        f" {fixtures.counts['sites']:,} sites, {fixtures.counts['appointments']:,} appointments"
        + (f"; seeded in {seeded:.0f} s by `manage.py seed_scale --patients {args.patients}`" if seeded else ""),
        *_servers(args, context),
        f"- Cache: {context['cache']}",
        f"- Clients: {args.clients} concurrent, {args.requests} requests per page;"
        f" day shown: {fixtures.day.isoformat()}",
        f"- Connections opened during the timed requests: {sessions} PostgreSQL sessions on the bench database"
        + (f", {logins} logins to PgBouncer" if args.pooled else "")
        + f" (CONN_MAX_AGE {context['conn_max_age']} s)",
        f"- Load average (1/5/15 min) before: {context['load_before']}; after: {context['load_after']}",
        f"- PostgreSQL checkpoint: {context['checkpoint']}",
        f"- Patient search, misspelt surname: results query {search_ms:.1f} ms in EXPLAIN ANALYZE"
        f" (target ≤ {SEARCH_DB_TARGET_MS} ms),"
        f" known names' trigram index {'used' if uses_trigram else '**not used**'}",
        "",
        f"Targets: p95 server time ≤ {ABSOLUTE_TARGET_MS} ms or ≤ {FLOOR_RATIO_TARGET} times the floor's, whichever"
        f" is larger (the day calendar's first view after a booking changed it: ≤ {CHANGED_DAY_TARGET_MS} ms; the"
        f" outcomes report: ≤ {OUTCOMES_REPORT_TARGET_MS} ms); no errors; ≤ {QUERY_TARGET} queries.",
        "",
        *render_table(rows),
    ]
    if context["notes"]:
        lines += ["", *(f"Note: {note}" for note in context["notes"])]
    if context["failures"]:
        lines += ["", "First failure per page:", ""]
        lines += [f"- {page}: {detail}" for page, detail in context["failures"].items()]
    lines += ["", end]
    return "\n".join(lines)


# --- Main --------------------------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=positive_int, default=2_000, help="data size (default 2,000)")
    parser.add_argument("--clients", type=positive_int, default=20, help="concurrent clients (default 20)")
    parser.add_argument("--requests", type=positive_int, default=300, help="requests per page (default 300)")
    default_workers = int(os.environ.get("WEB_CONCURRENCY") or os.cpu_count() or 1)  # as the Procfile
    parser.add_argument("--workers", type=positive_int, default=default_workers, help="gunicorn workers")
    parser.add_argument("--database", default=os.environ.get("BENCH_DATABASE", DEFAULT_DATABASE))
    parser.add_argument("--fresh", action="store_true", help="drop and re-seed the bench database")
    parser.add_argument("--pooled", action="store_true", help="through PgBouncer, on two portal instances")
    parser.add_argument("--cache-url", default=os.environ.get("BENCH_CACHE_URL", DEFAULT_CACHE_URL),
                        help=f"the shared Redis cache, emptied at the start (default {DEFAULT_CACHE_URL});"
                        " '' for each process's own memory")  # fmt: skip
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "performance.md")
    parser.add_argument("--no-write", action="store_true", help="print the results only")
    parser.add_argument("--pages", type=_page_names, default=None,
                        help="only these pages, by name, comma-separated (the floor always runs); prints the results"
                        " and writes nothing, the table being partial")  # fmt: skip
    args = parser.parse_args()
    if args.pages is not None:
        PAGES[:] = [page for page in PAGES if page.name in args.pages]
        args.no_write = True
    return args


def _page_names(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = set(names) - {page.name for page in PAGES}
    if unknown or not names:
        named = ", ".join(sorted(unknown)) or "(none given)"
        raise argparse.ArgumentTypeError(f"unknown page(s) {named}; known: {', '.join(page.name for page in PAGES)}")
    return names


def main() -> None:
    args = parse_args()
    if not os.environ.get("DATABASE_URL"):
        sys.exit("Set DATABASE_URL to a PostgreSQL server (`make bench` starts one when unset).")
    database_url = _with_database(os.environ["DATABASE_URL"], args.database)
    env = bench_environment(database_url, args.cache_url)
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    seed_seconds = prepare_database(os.environ["DATABASE_URL"], args.database, args.patients, args.fresh, env)
    notes = collect_static(env)
    os.environ.update(env)
    empty_cache(args.cache_url)
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.messages.storage.cookie import CookieStorage

    fixtures = prepare_fixtures(args.clients)
    states = [ClientState(index) for index in range(args.clients)]
    outcomes: list[Outcome] = []
    failures: dict[str, str] = {}
    load_before = load_average()
    with (
        portal(args, env) as servers,
        gunicorn("bench.floor_wsgi", env, args.workers, "floor", "/floor/") as (floor_port, floor_log),
    ):
        # The clients run below the servers' priority: on two CPUs they would otherwise take a share of the time
        # the servers are measured by, which clients on their own machines do not. They still get the CPU they
        # need to keep every request in flight (their own CPU time is in the report).
        os.nice(CLIENT_NICENESS)
        client_cpu_before = time.process_time()

        def browsers_for(ports: list[int]) -> list[dict[str, Browser]]:
            # One turn for all the clients (a cycle's next() is atomic in CPython), as a load balancer keeps it.
            turn = itertools.cycle(ports)
            return [{role: Browser(turn, keys[n], settings.SESSION_COOKIE_NAME, CookieStorage.cookie_name)
                     for role, keys in fixtures.sessions.items()} for n in range(args.clients)]  # fmt: skip

        portal_browsers, floor_browsers = browsers_for(servers.ports), browsers_for([floor_port])
        read_csrf_tokens(portal_browsers, states, fixtures)
        for page in PAGES:  # warm every worker on the pages read, as a running server is
            if page.method == "GET":
                drive(page, 2 * args.workers, portal_browsers, states, fixtures, {}, label=WARM)
        drive(FLOOR, 2 * args.workers, floor_browsers, states, fixtures, {}, label=WARM)
        checkpointed = checkpoint(os.environ["DATABASE_URL"])
        opened_before = connections_opened(servers.bouncer)
        # The floor before and after the pages, so a change in the machine's load over the run shows in it too.
        floor_requests = max(1, args.requests // 2)
        outcomes += drive(FLOOR, floor_requests, floor_browsers, states, fixtures, failures)
        for page in PAGES:
            print(f"  {page.name} ...", flush=True)
            outcomes += drive(page, args.requests, portal_browsers, states, fixtures, failures)
        outcomes += drive(FLOOR, floor_requests, floor_browsers, states, fixtures, failures)
        client_cpu = time.process_time() - client_cpu_before
        opened_after = connections_opened(servers.bouncer)  # PgBouncer's log goes with it
    load_after = load_average()
    opened = [after - before for before, after in zip(opened_before, opened_after, strict=True)]
    times = server_times(*servers.access_logs, floor_log)
    queries = count_queries(fixtures)
    rows = _rows(outcomes, times, queries)
    command = " ".join([".venv/bin/python", "bench/load_bench.py", *sys.argv[1:]])
    context = {"command": command, "seed_seconds": seed_seconds, "load_before": load_before, "load_after": load_after,
               "search": explain_search(fixtures.search_terms[0]), "failures": failures, "notes": notes,
               "client_cpu_ms": client_cpu * 1000 / max(1, len(outcomes)), "checkpoint": checkpointed,
               "connections": opened, "conn_max_age": settings.DATABASES["default"]["CONN_MAX_AGE"],
               "cache": _cache_text(args.cache_url)}  # fmt: skip
    if servers.bouncer:
        context |= {"pgbouncer": _pgbouncer_version(), "pool_size": servers.bouncer.pool_size}
    section = report(args, rows, fixtures, context)
    print(section)
    if not args.no_write:
        write_section(args.output, POOLED_SECTION if args.pooled else SECTION, section)
        print(f"Written to {args.output}.")


if __name__ == "__main__":
    main()
