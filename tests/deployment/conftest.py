"""A multi-host installation on loopback, started for each test that uses it: PostgreSQL reached only through
PgBouncer in transaction pooling mode, its own Redis (broker and shared cache), an S3-compatible object store
(moto's server), two gunicorn "hosts", a Celery worker "host" and two beats (one started by mistake). Each process
gets only the environment a host would be given and a folder of its own; none shares a disk.

The tests are transactional: what they write through their own direct connection is committed at once, the hosts
see it, and the tables are emptied afterwards."""

import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from django.conf import settings
from django.db import connection
from django.utils import timezone

from tests.deployment.processes import PgBouncer, PortalHost, free_port, port_open, stop, wait_until, with_database
from tests.object_storage import ObjectStore

REDIS_SERVER = "/usr/bin/redis-server"


@dataclass
class RedisServer:
    folder: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    def start(self) -> "RedisServer":
        if not os.access(REDIS_SERVER, os.X_OK):
            raise AssertionError(f"{REDIS_SERVER} is missing: install Debian's redis-server (`make pgbouncer`).")
        self.folder.mkdir(parents=True, exist_ok=True)
        command = [REDIS_SERVER, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no"]
        command += ["--dir", str(self.folder)]
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True
        )
        wait_until(lambda: port_open(self.port), timeout=20, what="redis-server")
        return self

    def url(self, number: int) -> str:
        return f"redis://127.0.0.1:{self.port}/{number}"


@dataclass
class Installation:
    folder: Path
    database: str
    pgbouncer: PgBouncer
    store: ObjectStore
    bucket: str
    redis: RedisServer
    hosts: dict[str, PortalHost]
    mail_dir: Path

    @property
    def web_a(self) -> PortalHost:
        return self.hosts["web-a"]

    @property
    def web_b(self) -> PortalHost:
        return self.hosts["web-b"]

    def host_folders(self) -> list[Path]:
        return [host.folder for host in self.hosts.values()]


def host_environment(database_url: str, direct_url: str, installation_redis: RedisServer,
                     documents: dict[str, str], mail_dir: Path) -> dict[str, str]:  # fmt: skip
    """What a host of this installation is given: the environment only, nothing of the test process's."""
    return {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/root"),
        "LANG": "C.UTF-8",
        "DJANGO_SETTINGS_MODULE": "pit_portal.settings",
        "SECRET_KEY": settings.SECRET_KEY,
        "DEBUG": "0",
        "SECURE": "0",
        "STATIC_MANIFEST": "0",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SITE_URL": "http://127.0.0.1",
        "CLINIC_TIMEZONE": settings.TIME_ZONE,
        "DATABASE_URL": database_url,
        "DATABASE_TRANSACTION_POOLING": "1",
        "DATABASE_DIRECT_URL": direct_url,
        "CELERY_BROKER_URL": installation_redis.url(0),
        **documents,
        # Mail "sent" by any host lands in one folder the test reads (standing for the mail server).
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(mail_dir),
        # Short waits, so an outage of a minute is recovered within the test's patience.
        "DOCUMENTS_RETRY_BACKOFF": "2",
        "DOCUMENTS_RETRY_BACKOFF_MAX": "10",
        "DOCUMENTS_SWEEP_SECONDS": "5",
        "DOCUMENTS_STALE_AFTER_SECONDS": "75",
        "OUTBOX_SWEEP_SECONDS": "3",
        # Every sweep re-sends every unsent email: duplicate messages are the point of the beat test.
        "OUTBOX_RESEND_AFTER_SECONDS": "0",
        "OUTBOX_RETRY_BACKOFF": "2",
        "OUTBOX_RETRY_BACKOFF_MAX": "10",
    }


@pytest.fixture
def installation(reference_data, object_store: ObjectStore, tmp_path) -> Iterator[Installation]:
    """The installation, on the test database (a transactional test's: what the test writes is committed at once
    and seen by the hosts)."""
    database = connection.settings_dict["NAME"]
    direct_url = with_database(settings.DATABASE_URL, database)
    bouncer = PgBouncer(direct_url).start()
    bucket = object_store.new_bucket()
    own_redis = RedisServer(tmp_path / "redis").start()
    mail_dir = tmp_path / "mail"
    documents = object_store.environ(bucket)
    environment = host_environment(bouncer.url(database), direct_url, own_redis, documents, mail_dir)
    names = ("web-a", "web-b", "worker", "beat-1", "beat-2")
    hosts = {name: PortalHost(name, tmp_path / name, environment) for name in names}
    try:
        hosts["web-a"].start_web()
        hosts["web-b"].start_web()
        hosts["worker"].start_worker("celery")
        hosts["beat-1"].start_beat()
        hosts["beat-2"].start_beat()
        yield Installation(tmp_path, database, bouncer, object_store, bucket, own_redis, hosts, mail_dir)
    finally:
        for host in hosts.values():
            host.stop()
        bouncer.remove()
        stop(own_redis.process)


class Visitor:
    """One person's browser: a cookie jar shared by both web hosts (both are 127.0.0.1, as one site behind a load
    balancer is one origin), sending each request to the host the test names."""

    def __init__(self):
        self.http = requests.Session()

    def csrf_token(self) -> str:
        return self.http.cookies.get("csrftoken", "")

    def get(self, host: PortalHost, path: str, **kwargs) -> requests.Response:
        return self.http.get(host.base_url + path, allow_redirects=False, timeout=30, **kwargs)

    def post(self, host: PortalHost, path: str, data: dict | None = None, **kwargs) -> requests.Response:
        if not self.csrf_token():
            self.get(host, "/accounts/login/")
        payload = {**(data or {}), "csrfmiddlewaretoken": self.csrf_token()}
        return self.http.post(host.base_url + path, data=payload, allow_redirects=False, timeout=30, **kwargs)

    def sign_in(self, host: PortalHost, username: str, password: str, device=None) -> None:
        """Through the real sign-in form, and the second factor's for staff."""
        from tests.accounts.mfa_helpers import code_for

        self.get(host, "/accounts/login/")
        answer = self.post(host, "/accounts/login/", {"username": username, "password": password})
        assert answer.status_code == 302, answer.text[:500]
        if device is not None:
            verified = self.post(host, "/accounts/mfa/verify/", {"code": code_for(device)})
            assert verified.status_code == 302, verified.text[:500]

    @property
    def session_key(self) -> str:
        return self.http.cookies.get(settings.SESSION_COOKIE_NAME, "")


def unique_tag() -> str:
    return uuid.uuid4().hex[:8]


def tomorrow_at(hour: int, minute: int = 0) -> str:
    day = timezone.localdate() + timedelta(days=1)
    return f"{day.isoformat()}T{hour:02d}:{minute:02d}"
