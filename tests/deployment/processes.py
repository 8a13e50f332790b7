"""The real servers of a multi-host installation, started on loopback for the tests and the load benchmark:
PgBouncer in transaction pooling mode in front of PostgreSQL, gunicorn instances standing for web hosts, and
Celery workers and beats standing for worker hosts. Each web and worker "host" gets a folder of its own
(PIT_VAR_DIR), so nothing reaches another host's disk."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import requests
from psycopg.conninfo import conninfo_to_dict

ROOT = Path(__file__).resolve().parents[2]
PGBOUNCER = "/usr/sbin/pgbouncer"
BIN = Path(sys.executable).parent
# PgBouncer refuses to run as root; started by root, it switches to this user, or to the owner of the server's
# socket folder (the embedded server's is private to its own user).
PGBOUNCER_USER = "postgres"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(condition: Callable[[], bool], *, timeout: float, what: str, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    detail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
    raise AssertionError(f"Timed out waiting for {what}.\n{detail}")


def port_open(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def stop(process: subprocess.Popen | None, sig: int = signal.SIGTERM, timeout: float = 30) -> None:
    """Stop a process and everything it started (each is the leader of its own process group)."""
    if process is None or process.poll() is not None:
        return
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=timeout)


class PgBouncer:
    """Debian's pgbouncer in transaction pooling mode, passing every database name through to `server_url`'s
    server (trust authentication, as the PostgreSQL it fronts uses here). With `log_connections` its log has a
    line for every client's login and every connection it opens to the server, which the load benchmark counts."""

    def __init__(self, server_url: str, *, pool_size: int = 20, log_connections: bool = False):
        # libpq's reading of the URL: the host may be a socket folder (the embedded server listens on one only).
        self.server = conninfo_to_dict(server_url)
        # Its own folder outside the caller's private temporary folders, which the pgbouncer user cannot enter.
        self.folder = Path(tempfile.mkdtemp(prefix="pit-pgbouncer-"))
        self.port = free_port()
        self.pool_size = pool_size
        self.log_connections = log_connections
        self.process: subprocess.Popen | None = None

    @property
    def log(self) -> Path:
        return self.folder / "pgbouncer.log"

    def _listening(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(f"pgbouncer stopped on start:\n{self.log.read_text() if self.log.exists() else ''}")
        return port_open(self.port)

    def url(self, database: str) -> str:
        """The address a portal process is given as DATABASE_URL."""
        return f"postgres://{self.user}@127.0.0.1:{self.port}/{database}"

    @property
    def system_user(self) -> str:
        host = str(self.server.get("host") or "")
        return Path(host).owner() if host.startswith("/") else PGBOUNCER_USER

    @property
    def user(self) -> str:
        return str(self.server.get("user") or "postgres")

    def write_config(self) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "userlist.txt").write_text(f'"{self.user}" ""\n')
        config = self.folder / "pgbouncer.ini"
        config.write_text(
            "[databases]\n"
            f"* = host={self.server.get('host') or '127.0.0.1'} port={self.server.get('port') or 5432}\n"
            "[pgbouncer]\n"
            "listen_addr = 127.0.0.1\n"
            f"listen_port = {self.port}\n"
            "unix_socket_dir =\n"
            "auth_type = trust\n"
            f"auth_file = {self.folder / 'userlist.txt'}\n"
            "pool_mode = transaction\n"
            f"default_pool_size = {self.pool_size}\n"
            "max_client_conn = 500\n"
            # Clients here never send startup options; anything else would be refused, as in production.
            "ignore_startup_parameters = extra_float_digits\n"
            f"logfile = {self.log}\n"
            f"log_connections = {int(self.log_connections)}\n"
            "log_disconnections = 0\n"
        )
        if os.geteuid() == 0:
            shutil.chown(self.folder, self.system_user)
            for path in self.folder.iterdir():
                shutil.chown(path, self.system_user)
        return config

    def start(self) -> "PgBouncer":
        if not os.access(PGBOUNCER, os.X_OK):
            raise AssertionError(f"{PGBOUNCER} is missing: install Debian's pgbouncer package (`make pgbouncer`).")
        config = self.write_config()
        command = [PGBOUNCER, *(["-u", self.system_user] if os.geteuid() == 0 else []), str(config)]
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True
        )
        wait_until(self._listening, timeout=20, what="pgbouncer to listen", log=self.log)
        return self

    def stop(self, sig: int = signal.SIGTERM) -> None:
        stop(self.process, sig)
        wait_until(lambda: not port_open(self.port), timeout=20, what="pgbouncer to stop", log=self.log)

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


def with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


class PortalHost:
    """One process of the portal (gunicorn, celery worker or beat) as if on a host of its own: its own folder for
    what it keeps on disk, everything else from the environment it is given."""

    def __init__(self, name: str, folder: Path, environment: dict[str, str]):
        self.name = name
        self.folder = folder
        self.environment = environment
        self.process: subprocess.Popen | None = None
        self.port = 0

    @property
    def log(self) -> Path:
        return self.folder / f"{self.name}.log"

    def _start(self, command: list[str]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        env = {**self.environment, "PIT_VAR_DIR": str(self.folder / "var")}
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True
            )

    def start_web(self, *, workers: int = 2) -> "PortalHost":
        self.port = self.port or free_port()
        command = [str(BIN / "gunicorn"), "pit_portal.wsgi", "--bind", f"127.0.0.1:{self.port}"]
        command += ["--workers", str(workers), "--timeout", "60", "--graceful-timeout", "5"]
        self._start(command)
        wait_until(self.answers, timeout=60, what=f"{self.name} to answer", log=self.log)
        return self

    def answers(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(f"{self.name} stopped:\n{self.log.read_text(errors='replace')[-3000:]}")
        try:
            return requests.get(f"{self.base_url}/accounts/login/", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start_worker(self, queue: str) -> "PortalHost":
        command = [str(BIN / "celery"), "-A", "pit_portal", "worker", "--pool", "prefork", "--concurrency", "1"]
        command += ["--queues", queue, "--loglevel", "INFO", "--without-mingle", "--without-gossip"]
        self._start(command)
        wait_until(lambda: b"ready." in self.log.read_bytes(), timeout=60, what=f"{self.name} to start", log=self.log)
        return self

    def start_beat(self) -> "PortalHost":
        schedule = self.folder / "celerybeat-schedule"
        self._start(
            [str(BIN / "celery"), "-A", "pit_portal", "beat", "--loglevel", "INFO", "--schedule", str(schedule)]
        )
        wait_until(lambda: b"beat: Starting" in self.log.read_bytes(), timeout=60, what=f"{self.name}", log=self.log)
        return self

    def manage(self, *arguments: str) -> subprocess.CompletedProcess:
        """A management command run on this host, as its operator would."""
        env = {**self.environment, "PIT_VAR_DIR": str(self.folder / "var")}
        return subprocess.run(
            [sys.executable, "manage.py", *arguments], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300
        )

    def kill(self) -> None:
        stop(self.process, signal.SIGKILL)

    def stop(self) -> None:
        stop(self.process)
