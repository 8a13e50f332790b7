"""What `make run` and `make test` need before any database is configured."""

import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings


def test_the_project_package_imports_without_a_database_url():
    """`python -m pit_portal.embedded_db` imports the package (and so the Celery app) to start the database that
    DATABASE_URL will then name: nothing on that path may read a setting."""
    env = {name: value for name, value in os.environ.items() if name not in ("DATABASE_URL", "SECRET_KEY")}
    found = subprocess.run(
        [sys.executable, "-c", "import pit_portal.celery, pit_portal.embedded_db; print('imported')"],
        cwd=Path(settings.BASE_DIR),
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert found.returncode == 0, found.stderr[-2000:]
    assert found.stdout.strip() == "imported"


def test_beat_runs_the_sweepers_from_the_settings(settings):
    from pit_portal.celery import app

    tasks = {entry["task"] for entry in app.conf.beat_schedule.values()}
    assert {"documents.tasks.sweep_pending_documents", "pit_portal.outbox.tasks.sweep_outbox"} <= tasks
