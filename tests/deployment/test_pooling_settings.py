"""What running behind PgBouncer in transaction pooling mode changes in the settings, and the page a request gets
when the database cannot be reached."""

import json
import os
import subprocess
import sys

import pytest
from django.db import InterfaceError, OperationalError
from django.test import RequestFactory

from pit_portal.views import server_error

SHOW_DATABASE_SETTINGS = (
    "import json, django; from django.conf import settings; django.setup(); "
    "d = settings.DATABASES['default']; "
    "print(json.dumps([d['DISABLE_SERVER_SIDE_CURSORS'], d['OPTIONS'].get('prepare_threshold'), "
    "settings.DATABASES['direct']['HOST'], settings.DATABASES['direct']['PORT']]))"
)


def database_settings(**environment: str) -> list:
    env = {key: value for key, value in os.environ.items() if not key.startswith("DATABASE_")}
    env |= {"DATABASE_URL": "postgres://portal@pgbouncer.internal:6432/clinic", **environment}
    answer = subprocess.run(
        [sys.executable, "-c", SHOW_DATABASE_SETTINGS], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(answer.stdout)


def test_transaction_pooling_turns_off_server_side_cursors_and_backups_connect_directly():
    direct = "postgres://portal@db.internal:5432/clinic"
    pooled = database_settings(DATABASE_TRANSACTION_POOLING="1", DATABASE_DIRECT_URL=direct)
    # No server-side cursors, and no prepared statements (Django's default, which nothing here overrides); backups
    # and restores connect past PgBouncer.
    assert pooled == [True, None, "db.internal", 5432]


def test_without_a_pooler_server_side_cursors_stay_and_backups_use_the_same_database():
    assert database_settings() == [False, None, "pgbouncer.internal", 6432]


@pytest.mark.parametrize("error", [OperationalError("connection refused"), InterfaceError("connection closed")])
def test_a_request_the_database_could_not_serve_gets_a_clear_503(error):
    try:
        raise error
    except type(error):
        response = server_error(RequestFactory().get("/patients/"))
    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    assert "nothing was saved" in response.content.decode()


def test_any_other_error_is_still_a_500():
    try:
        raise ValueError("a bug")
    except ValueError:
        response = server_error(RequestFactory().get("/patients/"))
    assert response.status_code == 500
    assert "Something went wrong" in response.content.decode()
