"""The portal as several hosts run it: two web instances, a worker and two beats sharing only PostgreSQL (through
PgBouncer in transaction mode), Redis and an S3-compatible object store. Journeys go over HTTP through both
instances; then PgBouncer is restarted mid-run, the object store is cut off for a minute and a web instance is
killed, and each time the portal answers cleanly and recovers with nobody's help."""

import hashlib
import json
import tarfile
import threading
import time
from collections import Counter
from dataclasses import dataclass

import pytest
import requests
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import Role
from audit.models import Action, AuditEvent
from documents.models import Document, DocumentStatus
from pit_portal.outbox.models import EmailKind, EmailStatus, OutboxEmail
from scheduling.models import Appointment
from tests.deployment.conftest import Installation, Visitor, tomorrow_at, unique_tag
from tests.deployment.processes import wait_until
from tests.documents.conftest import pdf_text
from tests.factories import CourseFactory, PatientFactory, UserFactory, consent_for
from tests.scheduling.factories import appointment_type, every_day
from tests.treatments.test_session_views import session_post

pytestmark = pytest.mark.deployment

PASSWORD = "a-long-clinic-password"
OUTAGE_SECONDS = 60


@dataclass
class People:
    clinician: object
    clinician_device: TOTPDevice
    desk: object
    desk_device: TOTPDevice
    manager: object
    manager_device: TOTPDevice
    patient_user: object
    patient: object
    course: object


def _staff(username: str, role: Role, **extra):
    user = UserFactory(username=username, role=role, **extra)
    hasher = PBKDF2PasswordHasher()
    # The hosts check passwords with the production hashers, not the suite's fast one.
    user.password = hasher.encode(PASSWORD, hasher.salt())
    user.save(update_fields=["password"])
    device = (
        TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True) if role != Role.PATIENT else None
    )
    return user, device


@pytest.fixture
def people(installation: Installation) -> People:
    clinician, clinician_device = _staff("hannah", Role.CLINICIAN, first_name="Hannah", last_name="Okafor")
    every_day(clinician)
    desk, desk_device = _staff("desmond", Role.FRONT_DESK)
    manager, manager_device = _staff("marta", Role.MANAGER)
    patient_user, _ = _staff("petra", Role.PATIENT)
    patient = PatientFactory(given_name="Petra", family_name="Quillfeather", email="petra@example.org",
                             user=patient_user)  # fmt: skip
    consent_for(patient)
    course = CourseFactory(patient=patient, created_by=clinician)
    return People(clinician, clinician_device, desk, desk_device, manager, manager_device, patient_user, patient,
                  course)  # fmt: skip


@pytest.fixture
def desk(installation: Installation, people: People) -> Visitor:
    visitor = Visitor()
    visitor.sign_in(installation.web_a, "desmond", PASSWORD, people.desk_device)
    return visitor


@pytest.fixture
def clinician(installation: Installation, people: People) -> Visitor:
    visitor = Visitor()
    visitor.sign_in(installation.web_b, "hannah", PASSWORD, people.clinician_device)
    return visitor


def book(visitor: Visitor, host, people: People, starts_at: str) -> requests.Response:
    return visitor.post(
        host,
        "/appointments/book/",
        {
            "patient": str(people.patient.pk),
            "clinician": str(people.clinician.pk),
            "appointment_type": str(appointment_type("review").pk),
            "starts_at": starts_at,
            "course": "",
            "notes": "",
            "confirm_clash": "",
        },
    )


def sign_new_session(visitor: Visitor, host, people: People) -> int:
    saved = visitor.post(host, f"/courses/{people.course.pk}/sessions/new/", session_post())
    assert saved.status_code == 302, saved.text[:2000]
    session_path = saved.headers["Location"]
    signed = visitor.post(host, f"{session_path}sign/")
    assert signed.status_code == 302, signed.text[:2000]
    return int(session_path.strip("/").split("/")[-1])


def documents_of(session_id: int) -> list[Document]:
    return list(Document.objects.filter(session_id=session_id).order_by("kind"))


def all_ready(session_id: int) -> bool:
    documents = documents_of(session_id)
    return len(documents) == 2 and all(document.status == DocumentStatus.READY for document in documents)


def booking_through_one_host_is_on_the_others_calendar_at_once(installation, people, desk):
    web_a, web_b = installation.web_a, installation.web_b
    starts_at = tomorrow_at(9, 0)
    day = starts_at[:10]
    before = desk.get(web_b, f"/calendar/day/?date={day}")  # B renders and caches the day
    assert before.status_code == 200
    assert "Quillfeather" not in before.text

    assert book(desk, web_a, people, starts_at).status_code == 302

    after = desk.get(web_b, f"/calendar/day/?date={day}")
    assert after.status_code == 200
    assert "Quillfeather" in after.text, "web-b served its cached day from before the booking through web-a"

    appointment = Appointment.objects.get(patient=people.patient, starts_at__date=day)
    block = f'id="appointment-{appointment.pk}"'
    assert block in desk.get(web_a, f"/calendar/day/?date={day}").text  # A renders and caches the day too
    reason = "Patient rang to cancel."
    cancelled = desk.post(web_b, f"/appointments/{appointment.pk}/cancel/", {"reason": reason})
    assert cancelled.status_code == 302, cancelled.text[:1000]
    again = desk.get(web_a, f"/calendar/day/?date={day}").text
    assert block not in again, "web-a served its cached day from before the cancellation through web-b"
    assert reason in again


def session_signed_through_one_host_is_rendered_by_the_worker_and_downloaded_through_the_other(
    installation, people, clinician
):
    session_id = sign_new_session(clinician, installation.web_b, people)
    wait_until(lambda: all_ready(session_id), timeout=120, what="both PDFs", log=installation.hosts["worker"].log)
    documents = documents_of(session_id)

    for document in documents:
        download = clinician.get(installation.web_a, f"/documents/{document.pk}/download/")
        assert download.status_code == 200
        assert download.headers["Content-Type"] == "application/pdf"
        assert "Quillfeather" in pdf_text(download.content)
        stored = installation.store.client().head_object(
            Bucket=installation.bucket, Key=document.file_name, ChecksumMode="ENABLED"
        )
        assert stored["ContentLength"] == len(download.content)

    patient = Visitor()
    patient.sign_in(installation.web_a, "petra", PASSWORD)
    aftercare = next(document for document in documents if document.kind == "aftercare")
    own_copy = patient.get(installation.web_b, f"/portal/documents/{aftercare.pk}/download/")
    assert own_copy.status_code == 200
    assert "Quillfeather" in pdf_text(own_copy.content)
    downloads = AuditEvent.objects.filter(action=Action.DOCUMENT_DOWNLOADED, object_id=str(aftercare.pk))
    assert downloads.count() == 2

    # The worker host notified the patient (once), from its environment alone.
    wait_until(
        lambda: _emails_to("petra@example.org", installation, "Your aftercare sheet is ready") == 1,
        timeout=60,
        what="the ready email",
    )

    # The PDFs live in the bucket only: no host, the worker included, kept one on its disk.
    on_disk = [path for folder in installation.host_folders() for path in folder.rglob("*.pdf")]
    assert on_disk == []


def lockout_on_one_host_holds_on_the_other(installation):
    _staff("lorna", Role.FRONT_DESK)
    visitor = Visitor()
    visitor.get(installation.web_a, "/accounts/login/")
    for _ in range(5):
        wrong = visitor.post(installation.web_a, "/accounts/login/", {"username": "lorna", "password": "wrong-guess"})
        assert wrong.status_code in (200, 429)
    elsewhere = Visitor()
    elsewhere.get(installation.web_b, "/accounts/login/")
    right = elsewhere.post(installation.web_b, "/accounts/login/", {"username": "lorna", "password": PASSWORD})
    assert right.status_code == 429
    assert "Sign-in paused" in right.text


def idle_time_out_and_sign_out_everywhere_hold_on_both_hosts(installation, people):
    from django.contrib.sessions.backends.db import SessionStore

    from accounts import session_policy

    patient = Visitor()
    patient.sign_in(installation.web_a, "petra", PASSWORD)
    assert patient.get(installation.web_b, "/portal/").status_code == 200
    session = SessionStore(session_key=patient.session_key)
    session[session_policy.LAST_SEEN_AT] -= 31 * 60  # past the patients' 30 minutes
    session.save()
    idle = patient.get(installation.web_b, "/portal/")
    assert idle.status_code == 302 and "/accounts/login/" in idle.headers["Location"]

    patient = Visitor()
    patient.sign_in(installation.web_b, "petra", PASSWORD)
    assert patient.get(installation.web_a, "/portal/").status_code == 200
    manager = Visitor()
    manager.sign_in(installation.web_a, "marta", PASSWORD, people.manager_device)
    revoked = manager.post(installation.web_a, f"/accounts/manage/{people.patient_user.pk}/sign-out-everywhere/")
    assert revoked.status_code == 302
    for host in (installation.web_a, installation.web_b):
        answer = patient.get(host, "/portal/")
        assert answer.status_code == 302 and "/accounts/login/" in answer.headers["Location"]


def second_beat_started_by_mistake_sends_nothing_twice(installation, people):
    """Both beats tick the sweeper, and every tick sends the unsent email to the worker again: many messages,
    one email."""
    tag = unique_tag()
    UserFactory(username=f"reset-{tag}", email=f"reset-{tag}@example.org", role=Role.FRONT_DESK)
    visitor = Visitor()
    visitor.get(installation.web_a, "/accounts/password/reset/")
    asked = visitor.post(installation.web_a, "/accounts/password/reset/", {"email": f"reset-{tag}@example.org"})
    assert asked.status_code == 302
    owed = OutboxEmail.objects.get(kind=EmailKind.PASSWORD_RESET)
    wait_until(lambda: _settled(owed), timeout=60, what="the reset email", log=installation.hosts["worker"].log)
    # Keep both beats ticking a while longer: nothing more may go out.
    time.sleep(8)
    assert _emails_to(f"reset-{tag}@example.org", installation, "") == 1
    for beat in ("beat-1", "beat-2"):
        assert b"pit_portal.outbox.tasks.sweep_outbox" in installation.hosts[beat].log.read_bytes()


def backup_from_a_worker_host_holds_the_database_and_the_bucket(installation):
    """Backups connect past PgBouncer (pg_dump needs one server session): one runs with the pooler stopped."""
    ready = dict(Document.objects.filter(status=DocumentStatus.READY).values_list("file_name", "sha256"))
    assert ready, "runs after a session was signed"
    installation.pgbouncer.stop()
    try:
        made = installation.hosts["worker"].manage("backup", "--output-dir", str(installation.folder / "backups"))
    finally:
        installation.pgbouncer.start()
    assert made.returncode == 0, made.stderr[-3000:]
    (folder,) = (installation.folder / "backups").iterdir()
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["database"]["name"] == installation.database
    assert manifest["documents"]["checked"] == len(ready)
    assert manifest["documents"]["missing"] == manifest["documents"]["mismatched"] == []
    with tarfile.open(folder / "documents.tar.gz") as archive:
        archived = {member.name: archive.extractfile(member).read() for member in archive.getmembers()}
    assert {name: hashlib.sha256(content).hexdigest() for name, content in archived.items()} == ready


def _emails_to(address: str, installation: Installation, subject: str) -> int:
    """Messages to `address` whose subject starts with `subject`, in what the hosts sent (Django's file backend
    writes each message followed by a line of dashes)."""
    if not installation.mail_dir.exists():
        return 0
    messages = [part for path in installation.mail_dir.iterdir() for part in path.read_text().split("-" * 79)]
    return sum(f"To: {address}" in message and f"Subject: {subject}" in message for message in messages)


def _settled(owed: OutboxEmail) -> bool:
    owed.refresh_from_db()
    return owed.status == EmailStatus.SENT


def _hammer(visitor: Visitor, hosts, paths, stop: threading.Event, results: list) -> None:
    n = 0
    while not stop.is_set():
        host, path = hosts[n % len(hosts)], paths[n % len(paths)]
        try:
            answer = visitor.get(host, path)
            results.append((time.monotonic(), answer.status_code, answer.text))
        except Exception as error:
            results.append((time.monotonic(), 0, repr(error)))
        n += 1
        time.sleep(0.05)


def pgbouncer_restarted_mid_run_fails_requests_cleanly_and_recovers(installation, people, desk):
    web_a, web_b = installation.web_a, installation.web_b
    day = tomorrow_at(9)[:10]
    stop = threading.Event()
    results: list = []
    reader = threading.Thread(
        target=_hammer, args=(desk, [web_a, web_b], [f"/calendar/day/?date={day}", "/patients/?q=Quill"], stop, results)
    )
    reader.start()
    bookings: list[tuple[int, str]] = []
    try:
        for minute in range(0, 60, 15):
            starts_at = tomorrow_at(11, minute)
            bookings.append((book(desk, web_a, people, starts_at).status_code, starts_at))
        installation.pgbouncer.stop()
        down_at = time.monotonic()
        for minute in range(0, 60, 15):
            starts_at = tomorrow_at(12, minute)
            bookings.append((book(desk, web_b, people, starts_at).status_code, starts_at))
        time.sleep(2)
        installation.pgbouncer.start()
        up_at = time.monotonic()
        time.sleep(3)
        for minute in range(0, 60, 15):
            starts_at = tomorrow_at(13, minute)
            bookings.append((book(desk, web_a, people, starts_at).status_code, starts_at))
    finally:
        stop.set()
        reader.join()

    statuses = Counter(status for _, status, _ in results)
    assert set(statuses) <= {200, 503}, statuses
    refused = [text for _, status, text in results if status == 503]
    assert refused, "no request failed while PgBouncer was down: the hosts are not going through it"
    assert all("nothing was saved" in text for text in refused)
    assert all(status == 200 for moment, status, _ in results if moment > up_at + 1), "not recovered after restart"
    assert all(moment > down_at for moment, status, _ in results if status == 503)

    # Bookings: those answered 302 are saved, those answered 503 are not, and none is half-saved (each saved one has
    # its history row, written in the same transaction).
    assert {status for status, _ in bookings} <= {302, 503}
    assert [status for status, _ in bookings[:4]] == [302] * 4
    assert [status for status, _ in bookings[4:8]] == [503] * 4
    assert [status for status, _ in bookings[8:]] == [302] * 4
    saved = Appointment.objects.filter(patient=people.patient, starts_at__date=day).exclude(status="cancelled")
    saved_times = sorted(saved.values_list("starts_at", flat=True))
    assert len(saved_times) == 8
    history = Appointment.pgh_event_model.objects.filter(pgh_obj_id__in=saved.values("pk"), pgh_label="insert")
    assert history.count() == 8


def object_store_unreachable_for_a_minute_documents_wait_then_complete(installation, people, clinician):
    earlier = Document.objects.filter(status=DocumentStatus.READY).order_by("pk").first()
    assert earlier is not None, "runs after the signing journey"
    with installation.store.paused():
        cut_at = time.monotonic()
        session_id = sign_new_session(clinician, installation.web_a, people)
        unreachable = clinician.get(installation.web_b, f"/documents/{earlier.pk}/download/")
        assert unreachable.status_code == 503
        assert "try again" in unreachable.text.lower()
        time.sleep(max(0.0, OUTAGE_SECONDS - 5 - (time.monotonic() - cut_at)))
        waiting = documents_of(session_id)
        assert {document.status for document in waiting} == {DocumentStatus.PENDING}
        assert all(document.last_error for document in waiting), "no reason is shown for the wait"
        earlier.refresh_from_db()
        assert earlier.status == DocumentStatus.READY and earlier.rebuild_requested_at is None
        time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - cut_at)))
    wait_until(lambda: all_ready(session_id), timeout=120, what="the PDFs after the outage",
               log=installation.hosts["worker"].log)  # fmt: skip
    for document_id in [document.pk for document in documents_of(session_id)]:
        assert clinician.get(installation.web_b, f"/documents/{document_id}/download/").status_code == 200


def one_web_host_killed_the_other_serves_and_it_comes_back(installation, people, desk):
    web_a, web_b = installation.web_a, installation.web_b
    installation.web_a.kill()
    with pytest.raises(Exception):  # noqa: B017 (refused at the connection: the load balancer's signal)
        desk.get(web_a, "/calendar/day/")
    starts_at = tomorrow_at(15)
    assert book(desk, web_b, people, starts_at).status_code == 302
    assert "Quillfeather" in desk.get(web_b, f"/calendar/day/?date={starts_at[:10]}").text

    web_a.start_web()  # as its supervisor would: same port, same environment
    page = desk.get(web_a, f"/calendar/day/?date={starts_at[:10]}")
    assert page.status_code == 200, "the desk's session from before the kill no longer works"
    assert "Quillfeather" in page.text


def test_journeys_through_two_web_hosts_a_worker_and_two_beats(installation, people, desk, clinician):
    booking_through_one_host_is_on_the_others_calendar_at_once(installation, people, desk)
    session_signed_through_one_host_is_rendered_by_the_worker_and_downloaded_through_the_other(
        installation, people, clinician
    )
    lockout_on_one_host_holds_on_the_other(installation)
    idle_time_out_and_sign_out_everywhere_hold_on_both_hosts(installation, people)
    second_beat_started_by_mistake_sends_nothing_twice(installation, people)
    backup_from_a_worker_host_holds_the_database_and_the_bucket(installation)


def test_pgbouncer_restart_object_store_outage_and_a_killed_web_host_fail_cleanly_and_recover(
    installation, people, desk, clinician
):
    first = sign_new_session(clinician, installation.web_a, people)
    wait_until(lambda: all_ready(first), timeout=120, what="the first PDFs", log=installation.hosts["worker"].log)
    pgbouncer_restarted_mid_run_fails_requests_cleanly_and_recovers(installation, people, desk)
    object_store_unreachable_for_a_minute_documents_wait_then_complete(installation, people, clinician)
    one_web_host_killed_the_other_serves_and_it_comes_back(installation, people, desk)
