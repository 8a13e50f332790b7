"""The demo without a phone: `seed_demo` gives the staff demo users an authenticator app on file, and
`manage.py demo_code <username>` prints the code it shows now, only with DEBUG on and only for demo staff. The
second factor stays required: the code is typed on the same page as any other."""

import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.management.commands.seed_demo import DEMO_PASSWORD
from accounts.models import Role
from tests.accounts.mfa_helpers import confirmed_device
from tests.factories import UserFactory

STAFF = ["clinician", "frontdesk", "manager"]
VERIFY = reverse("mfa_verify")


@pytest.fixture
def demo(db, settings):
    settings.DEBUG = True
    output = StringIO()
    call_command("seed_demo", stdout=output)
    return output.getvalue()


def demo_code(username: str) -> str:
    output = StringIO()
    call_command("demo_code", username, stdout=output)
    found = re.search(r"\b(\d{6})\b", output.getvalue())
    assert found, output.getvalue()
    return found.group(1)


def _app(username: str) -> TOTPDevice:
    return TOTPDevice.objects.get(user__username=username, confirmed=True)


def test_demo_staff_have_one_confirmed_app_however_often_the_demo_is_seeded(demo):
    call_command("seed_demo", stdout=StringIO())
    for username in STAFF:
        assert TOTPDevice.objects.filter(user__username=username).count() == 1
        assert _app(username).confirmed
    assert not TOTPDevice.objects.filter(user__username="patient").exists()
    assert "demo_code" in demo


def test_seeding_prints_no_secret_and_no_code(demo):
    for username in STAFF:
        device = _app(username)
        assert device.key not in demo
        assert demo_code(username) not in demo


@pytest.mark.parametrize("username", STAFF)
def test_the_printed_code_is_one_the_app_accepts(demo, username):
    assert _app(username).verify_token(demo_code(username))


def test_after_a_code_is_used_the_next_printed_one_still_signs_in(demo):
    assert _app("clinician").verify_token(demo_code("clinician"))
    assert _app("clinician").verify_token(demo_code("clinician"))


def test_a_demo_user_signs_in_with_the_printed_code_and_the_second_factor_still_asked(demo, client):
    response = client.post(reverse("login"), {"username": "frontdesk", "password": DEMO_PASSWORD})
    assert response.status_code == 302
    # Still asked for a code (not to set an app up): the second factor is required as ever.
    assert client.get("/").url.startswith(VERIFY)
    assert DEVICE_ID_SESSION_KEY not in client.session
    response = client.post(VERIFY, {"code": demo_code("frontdesk"), "next": "/"})
    assert response.status_code == 302 and response.url == "/"
    assert DEVICE_ID_SESSION_KEY in client.session
    assert client.get("/").status_code == 200


def test_demo_code_is_refused_unless_debug_is_on(demo, settings):
    settings.DEBUG = False
    output = StringIO()
    with pytest.raises(CommandError, match="DEBUG"):
        call_command("demo_code", "clinician", stdout=output)
    assert output.getvalue() == ""


@pytest.mark.parametrize("username", ["patient", "nobody"])
def test_demo_code_is_refused_for_anyone_but_the_demo_staff(demo, username):
    with pytest.raises(CommandError, match="clinician, frontdesk, manager"):
        call_command("demo_code", username, stdout=StringIO())


def test_demo_code_never_prints_a_real_staff_members_code(demo):
    real = UserFactory(username="dr_real", role=Role.CLINICIAN)
    confirmed_device(real)
    output = StringIO()
    with pytest.raises(CommandError):
        call_command("demo_code", real.username, stdout=output)
    assert output.getvalue() == ""


def test_demo_code_says_what_to_do_when_the_demo_user_has_no_app(demo):
    TOTPDevice.objects.filter(user__username="manager").delete()  # as after a reset of their second factor
    with pytest.raises(CommandError, match="seed_demo"):
        call_command("demo_code", "manager", stdout=StringIO())
