"""Finding a pg_dump / pg_restore that can talk to the server, and keeping the password off command lines."""

import os
from pathlib import Path

import pytest
from django.db import connection

from pit_portal.backups import postgres
from pit_portal.backups.postgres import BackupError, Database


def fake_tool(folder: Path, name: str, version: str) -> None:
    folder.mkdir(parents=True)
    script = folder / name
    script.write_text(f'#!/bin/sh\necho "{name} (PostgreSQL) {version}"\n')
    script.chmod(0o755)


@pytest.fixture
def fake_bin_dirs(tmp_path, monkeypatch) -> None:
    folders = {"14": "14.12", "16": "16.4 (Debian 16.4-1)", "18": "18.6"}
    for major, version in folders.items():
        fake_tool(tmp_path / major, "pg_dump", version)
    monkeypatch.setattr(postgres, "candidate_bin_dirs", lambda: [tmp_path / major for major in ("18", "14", "16")])


@pytest.mark.parametrize(("server", "chosen"), [(13, 14), (14, 14), (15, 16), (16, 16), (17, 18), (18, 18)])
def test_the_oldest_tool_at_least_as_new_as_the_server_is_chosen(fake_bin_dirs, tmp_path, server, chosen):
    tool = postgres.find_tool("pg_dump", server)
    assert (tool.major, tool.path) == (chosen, tmp_path / str(chosen) / "pg_dump")


def test_no_tool_new_enough_is_a_clear_error(fake_bin_dirs):
    with pytest.raises(
        BackupError, match=r"No pg_dump for PostgreSQL 19 or later\. Found: .*\(18\).*postgresql-client-19"
    ):
        postgres.find_tool("pg_dump", 19)


@pytest.mark.django_db
def test_the_real_tools_can_dump_this_server():
    with Database.from_django(connection.settings_dict).connect() as database:
        major = postgres.server_major(database)
    tool = postgres.find_tool("pg_dump", major)
    assert tool.major >= major
    assert os.access(tool.path, os.X_OK)


def test_the_password_stays_off_the_command_line():
    database = Database.from_url("postgres://portal:s3cret%21@db.example.org:5433/clinic?sslmode=require")
    assert "s3cret" not in database.conninfo
    assert "sslmode=require" in database.conninfo
    assert database.tool_environment()["PGPASSWORD"] == "s3cret!"
