"""Personas used across the suite: one user per role, plus two patients and an outsider."""

import importlib
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.apps import apps as django_apps
from django.conf import settings
from django.db import connection
from django.test import Client

from accounts.models import Role
from accounts.roles import role_group_id
from tests.deployment.processes import wait_until, with_database
from tests.factories import PASSWORD, PatientFactory, UserFactory
from tests.object_storage import ObjectStore, point_documents_at, start_object_store


@pytest.fixture(autouse=True)
def force_login_passes_the_second_factor(monkeypatch) -> None:
    """`Client.force_login` skips the password, so it skips the second factor too: the session is marked
    verified with a confirmed TOTP device, as if the user had typed a code. Tests of MFA itself sign in
    through the real forms (or pass `verified=False`)."""
    original = Client.force_login

    def force_login(self, user, backend=None, *, verified: bool = True):
        original(self, user, backend)
        if verified and user.must_use_second_factor:
            mark_second_factor_verified(self, user)

    monkeypatch.setattr(Client, "force_login", force_login)


def mark_second_factor_verified(client: Client, user) -> None:
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()


@pytest.fixture(autouse=True)
def private_audit_heads(settings, monkeypatch, tmp_path) -> None:
    """Each test, and any worker or beat it starts, records and reads the audit chain's heads (and backups) in a
    folder of its own: a head that another test's database left in var/ names events this database never had."""
    head_file, backups = tmp_path / "audit-head.log", tmp_path / "backups"
    settings.AUDIT_HEAD_FILE, settings.BACKUP_DIR = head_file, backups
    monkeypatch.setenv("AUDIT_HEAD_FILE", str(head_file))
    monkeypatch.setenv("BACKUP_DIR", str(backups))


@pytest.fixture(autouse=True)
def fast_password_hasher(settings) -> None:
    """PBKDF2 costs about half a second a hash on this hardware and the suite creates many users;
    sign-in still goes through the real forms and session. Autouse, so it is in place before any
    persona fixture sets a password."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


# The data migrations' own loaders, to put reference rows back after a flush (see reference_data).
REFERENCE_DATA = [
    ("patients.migrations.0002_reference_data", "load"),
    ("assessments.migrations.0003_nerve_reference_data", "load"),
    ("scheduling.migrations.0002_appointment_types", "load"),
    ("documents.migrations.0002_aftercare_wording", "add_wording"),
    ("outcomes.migrations.0002_default_schedule", "load"),
]


@pytest.fixture
def warm_worker(db) -> None:
    """What a worker reads once in its life (each role's group id, accounts.roles.role_group_id), read before a
    test counts a page's queries: the counts are of the pages a running portal serves."""
    for role in Role:
        role_group_id(role)


@pytest.fixture
def reference_data(transactional_db) -> None:
    """A transactional test that ran earlier flushed the tables, reference data included (post_migrate brings
    back only groups and permissions): load it again the way the migrations did. The loaders use
    get_or_create, so this is a no-op when the rows are still there."""
    load_reference_data(REFERENCE_DATA)


def load_reference_data(loaders: list[tuple[str, str]]) -> None:
    for module, loader in loaders:
        getattr(importlib.import_module(module), loader)(django_apps, None)


@pytest.fixture
def password() -> str:
    return PASSWORD


@pytest.fixture
def clinician(db):
    return UserFactory(username="alice", first_name="Alice", last_name="Carter", role=Role.CLINICIAN)


@pytest.fixture
def front_desk(db):
    return UserFactory(username="bob", first_name="Bob", last_name="Reyes", role=Role.FRONT_DESK)


@pytest.fixture
def manager(db):
    return UserFactory(username="mona", first_name="Mona", last_name="Lind", role=Role.MANAGER, is_staff=True)


@pytest.fixture
def patient_user(db):
    return UserFactory(username="charlie", first_name="Charlie", last_name="Day", role=Role.PATIENT)


@pytest.fixture
def outsider(db):
    """Signed in, but in no role at all."""
    return UserFactory(username="olga")


@pytest.fixture
def patient(db, patient_user):
    return PatientFactory(given_name="Charlie", family_name="Day", user=patient_user)


@pytest.fixture
def other_patient(db):
    return PatientFactory(given_name="Dana", family_name="Whitfield")


def _client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def clinician_client(clinician) -> Client:
    return _client_for(clinician)


@pytest.fixture
def front_desk_client(front_desk) -> Client:
    return _client_for(front_desk)


@pytest.fixture
def manager_client(manager) -> Client:
    return _client_for(manager)


@pytest.fixture
def patient_client(patient_user) -> Client:
    return _client_for(patient_user)


@pytest.fixture
def outsider_client(outsider) -> Client:
    return _client_for(outsider)


@pytest.fixture
def celery_worker_process(transactional_db, tmp_path):
    """A real `celery worker` process on the configured broker (Redis in CI), reading the test database.

    Each test gets its own queue, so stale messages from earlier runs never reach it.
    Emails the worker sends land as files in `worker.mail_dir`.
    """
    from pit_portal.celery import app

    queue = f"test-{uuid.uuid4().hex[:12]}"
    mail_dir = tmp_path / "mail"
    log_path = tmp_path / "worker.log"
    process = start_worker_process(queue, log_path, mail_dir)
    previous_queue = app.conf.task_default_queue
    app.conf.task_default_queue = queue
    try:
        wait_until(lambda: b"ready." in log_path.read_bytes(), timeout=60, what="the worker to start", log=log_path)
        yield SimpleNamespace(process=process, mail_dir=mail_dir, log=log_path, queue=queue)
    finally:
        app.conf.task_default_queue = previous_queue
        process.terminate()
        process.wait(timeout=30)


def start_worker_process(queue: str, log_path: Path, mail_dir: Path) -> subprocess.Popen:
    """`celery worker` on `queue`, reading the test database and writing emails into `mail_dir` (not yet ready)."""
    env = {
        **os.environ,
        "DATABASE_URL": with_database(settings.DATABASE_URL, connection.settings_dict["NAME"]),
        "CELERY_QUEUE": queue,
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(mail_dir),
    }
    command = [sys.executable, "-m", "celery", "-A", "pit_portal", "worker", "--pool", "prefork"]
    command += ["--concurrency", "1", "--queues", queue, "--loglevel", "INFO", "--without-mingle", "--without-gossip"]
    with open(log_path, "wb") as log:
        return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=settings.BASE_DIR)


@pytest.fixture
def wait_for():
    return wait_until


@pytest.fixture(scope="session")
def object_store(tmp_path_factory) -> Iterator[ObjectStore]:
    """An S3-compatible server (moto's, on a free loopback port) for the whole session, stopped at its end; its
    log is in the session's temporary folder. See tests/object_storage.py."""
    store = start_object_store(tmp_path_factory.mktemp("object-store") / "moto.log")
    try:
        yield store
    finally:
        store.stop()


@pytest.fixture
def documents_bucket(object_store, settings, monkeypatch) -> SimpleNamespace:
    """This test's documents in a new, empty, private bucket of the session's object store, configured as
    production configures it (DOCUMENTS_STORAGE_BACKEND=s3 and the DOCUMENTS_S3_* variables, set in the
    environment too, so a worker started after this fixture stores into the same bucket). `client` is a plain
    boto3 client for looking at the bucket; `environ` the variables set."""
    name = object_store.new_bucket()
    environ = object_store.environ(name)
    point_documents_at(settings, monkeypatch, environ)
    return SimpleNamespace(name=name, store=object_store, client=object_store.client(), environ=environ)
