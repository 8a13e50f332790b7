"""The WSGI module gunicorn loads."""

import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings


def test_loading_the_application_freezes_what_it_loaded_out_of_the_garbage_collectors_way():
    code = "import gc, pit_portal.wsgi; print(gc.get_freeze_count())"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "pit_portal.settings"}
    found = subprocess.run(
        [sys.executable, "-c", code], cwd=Path(settings.BASE_DIR), env=env, capture_output=True, text=True, check=True
    )
    assert int(found.stdout.strip()) > 10_000  # Django and the apps, not a handful of objects
