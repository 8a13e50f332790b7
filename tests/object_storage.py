"""An S3-compatible object store for tests: moto's server, a real HTTP server on the loopback that speaks the S3
API, started once per test session (the `object_store` fixture, tests/conftest.py). Each test that wants its
documents in a bucket gets a new, empty bucket (the `documents_bucket` fixture), configured through the same
environment variables and settings function as production (pit_portal.settings.documents_storage), so a worker
or a second portal process started by the test inherits it.

Nothing here is mocked: botocore signs and sends real requests, and an outage is a real one (the server paused,
or an address where nothing listens)."""

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from pit_portal import settings as project_settings
from tests.deployment.processes import free_port

# The credentials moto accepts (any); the region it answers for by default.
ACCESS_KEY, SECRET_KEY, REGION = "testing", "testing", "us-east-1"
# Short, so a test against a paused or absent store fails in seconds instead of hanging.
QUICK_TIMEOUTS = {
    "DOCUMENTS_S3_CONNECT_TIMEOUT": "1",
    "DOCUMENTS_S3_READ_TIMEOUT": "3",
    "DOCUMENTS_S3_MAX_ATTEMPTS": "2",
}
START_TIMEOUT = 60


def moto_server_command(host: str, port: int) -> list[str]:
    """The `moto_server` script beside this Python (the virtualenv's bin), else the module through this Python."""
    script = Path(sys.executable).with_name("moto_server")
    if script.exists():
        return [str(script), "-H", host, "-p", str(port)]
    return [sys.executable, "-m", "moto.server", "-H", host, "-p", str(port)]


def credentials_environ() -> dict[str, str]:
    """What boto3 reads from the environment: the test credentials, and nothing from the machine (no ~/.aws files,
    never the instance metadata service, which is not on the loopback)."""
    return {
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }


@dataclass
class ObjectStore:
    """A running moto server. `client()` is a plain boto3 client for looking at what the portal stored."""

    endpoint: str
    process: subprocess.Popen
    log: Path
    buckets: list[str] = field(default_factory=list)

    def client(self, *, timeout: float = 5):
        config = Config(connect_timeout=timeout, read_timeout=timeout, retries={"max_attempts": 1})
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            config=config,
        )

    def new_bucket(self, prefix: str = "documents") -> str:
        """A new, empty bucket: private, as a clinic's must be (no ACL grants anyone but its owner)."""
        name = f"{prefix}-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        self.buckets.append(name)
        return name

    def environ(self, bucket: str, endpoint: str | None = None) -> dict[str, str]:
        """The environment that points a portal process (web or worker) at `bucket` in this store."""
        return {
            **credentials_environ(),
            **QUICK_TIMEOUTS,
            "DOCUMENTS_STORAGE_BACKEND": "s3",
            "DOCUMENTS_S3_BUCKET": bucket,
            "DOCUMENTS_S3_ENDPOINT_URL": endpoint or self.endpoint,
            "DOCUMENTS_S3_REGION": REGION,
        }

    @contextmanager
    def paused(self) -> Iterator[None]:
        """The server stopped dead (SIGSTOP): connections are still accepted by the kernel but never answered, as
        with a hung store. It carries on where it was when the block ends, whatever happened inside it."""
        self.process.send_signal(signal.SIGSTOP)
        try:
            yield
        finally:
            self.process.send_signal(signal.SIGCONT)

    def answers(self) -> bool:
        try:
            self.client(timeout=2).list_buckets()
        except (BotoCoreError, ClientError):
            return False
        return True

    def stop(self) -> None:
        self.process.send_signal(signal.SIGCONT)  # a paused process does not act on SIGTERM until it runs again
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


def start_object_store(log: Path) -> ObjectStore:
    """moto's server on a free loopback port, once it answers S3 requests; its output goes to `log`."""
    port = free_port()
    with log.open("wb") as output:
        process = subprocess.Popen(
            moto_server_command("127.0.0.1", port),
            stdout=output,
            stderr=subprocess.STDOUT,
            env={**os.environ, **credentials_environ()},
        )
    store = ObjectStore(endpoint=f"http://127.0.0.1:{port}", process=process, log=log)
    deadline = time.monotonic() + START_TIMEOUT
    while not store.answers():
        if process.poll() is not None or time.monotonic() > deadline:
            store.stop()
            raise RuntimeError(f"moto's S3 server did not start:\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.2)
    return store


def unreachable_endpoint() -> str:
    """An address on the loopback where nothing listens: every connection is refused at once."""
    return f"http://127.0.0.1:{free_port()}"


def point_documents_at(settings, monkeypatch, environ: dict[str, str]) -> None:
    """Documents stored where `environ` says, for this test and any process it starts: the variables are set (and
    undone after the test by `monkeypatch`), and STORAGES["default"] is built from them by the portal's own
    settings function (pytest-django's `settings` fixture resets the cached storage when STORAGES changes)."""
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    settings.STORAGES = {**settings.STORAGES, "default": project_settings.documents_storage()}
