"""Too many failed sign-ins pause signing in (django-axes): an account after five under its username, from any
address; an address only after many more across usernames, so one person behind a clinic's shared address never
locks colleagues out. Behind the proxy the address is the hop the proxy appended; a manager can lift either."""

import runpy
from pathlib import Path

import pytest
from axes.helpers import get_client_ip_address
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth import get_user
from django.test import Client, RequestFactory, override_settings
from django.urls import reverse

from audit.models import Action, AuditEvent
from tests.factories import PASSWORD

WRONG = "not-the-password"
HOME = "203.0.113.10"
ELSEWHERE = "198.51.100.20"
LOCKED_MESSAGE = "too many unsuccessful attempts to sign in"


def sign_in(client: Client, username: str, password: str, *, ip: str = HOME, **headers):
    return client.post(reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=ip, **headers)


def fail_until_locked(client: Client, username: str = "alice", *, ip: str = HOME, **headers):
    """Four refusals with the form shown again, then the fifth answers 429."""
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert sign_in(client, username, WRONG, ip=ip, **headers).status_code == 200
    return sign_in(client, username, WRONG, ip=ip, **headers)


def events(action: Action):
    return AuditEvent.objects.filter(action=action).order_by("id")


# --- by username ----------------------------------------------------------------------------------


def test_fifth_wrong_password_pauses_signing_in_with_a_message(client, clinician):
    response = fail_until_locked(client)
    assert response.status_code == 429
    assert "registration/locked_out.html" in [template.name for template in response.templates]
    page = response.content.decode()
    assert LOCKED_MESSAGE in page
    assert "ask a practice manager" in page
    # Nothing says whether the account or the address tripped the limit.
    assert "address" not in page.lower()
    assert "username" not in page.lower()
    locked = events(Action.LOCKED_OUT).get()
    assert locked.actor is None
    assert locked.actor_username == "alice"
    assert locked.ip_address == HOME


def test_four_wrong_passwords_do_not_lock(client, clinician):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        sign_in(client, "alice", WRONG)
    assert sign_in(client, "alice", PASSWORD).status_code == 302
    assert get_user(client) == clinician
    assert not events(Action.LOCKED_OUT).exists()


def test_locked_account_refuses_the_right_password_too_even_from_another_address(client, clinician):
    fail_until_locked(client)
    assert sign_in(client, "alice", PASSWORD).status_code == 429
    assert sign_in(Client(), "alice", PASSWORD, ip=ELSEWHERE).status_code == 429
    assert not get_user(client).is_authenticated


def test_failed_sign_in_is_audited_with_the_typed_username_and_never_the_password(client, clinician):
    sign_in(client, "ALICE", WRONG)
    failed = events(Action.LOGIN_FAILED).get()
    assert failed.actor is None
    assert failed.actor_username == "ALICE"
    assert failed.ip_address == HOME
    stored = f"{failed.detail} {failed.path} {failed.object_id}"
    assert WRONG not in stored
    assert PASSWORD not in stored


# --- by address -----------------------------------------------------------------------------------


def test_one_persons_wrong_passwords_at_a_shared_address_lock_only_their_account(client, clinician, front_desk):
    assert fail_until_locked(client, "alice").status_code == 429
    colleague = Client()
    assert sign_in(colleague, "bob", PASSWORD, ip=HOME).status_code == 302
    assert get_user(colleague) == front_desk


def fail_from_one_address(count: int, ip: str = HOME) -> None:
    for n in range(count):
        sign_in(Client(), f"guess{n % 7}", WRONG, ip=ip)


@override_settings(LOGIN_ADDRESS_FAILURE_LIMIT=12)
def test_many_failures_across_usernames_pause_that_address_only(clinician):
    fail_from_one_address(settings.AXES_FAILURE_LIMIT + 1)
    assert sign_in(Client(), "alice", PASSWORD, ip=HOME).status_code == 302, "below the address's limit"
    fail_from_one_address(12)
    assert sign_in(Client(), "alice", PASSWORD, ip=HOME).status_code == 429
    elsewhere = Client()
    assert sign_in(elsewhere, "alice", PASSWORD, ip=ELSEWHERE).status_code == 302
    assert get_user(elsewhere) == clinician


@override_settings(LOGIN_ADDRESS_FAILURE_LIMIT=12)
def test_the_attempt_that_reaches_the_address_limit_is_answered_as_locked_and_audited(clinician):
    fail_from_one_address(11)
    assert sign_in(Client(), "someone", WRONG, ip=HOME).status_code == 429
    assert events(Action.LOCKED_OUT).get().ip_address == HOME


@override_settings(LOGIN_ADDRESS_FAILURE_LIMIT=12)
def test_manager_sees_a_paused_address_and_lifts_the_pause(client, clinician, manager_client, manager):
    fail_from_one_address(12)
    page = manager_client.get(reverse("security_users"))
    assert [row["ip_address"] for row in page.context["locked_addresses"]] == [HOME]
    assert HOME in page.content.decode()
    response = manager_client.post(reverse("security_unlock_address"), {"address": HOME})
    assert response.status_code == 302
    assert sign_in(client, "alice", PASSWORD, ip=HOME).status_code == 302
    unlocked = events(Action.UNLOCKED).get()
    assert unlocked.actor == manager
    assert unlocked.detail == {"address": HOME, "attempts_cleared": 7}
    assert manager_client.get(reverse("security_users")).context["locked_addresses"] == []


def test_lifting_a_pause_needs_an_address(manager_client):
    response = manager_client.post(reverse("security_unlock_address"), {"address": "not an address"}, follow=True)
    assert "not an address" in response.content.decode()
    assert not events(Action.UNLOCKED).exists()


# --- behind the reverse proxy ---------------------------------------------------------------------


def proxy_settings(monkeypatch, proxy_count: int) -> dict:
    """The AXES_* and IPWARE_* values settings.py gives when BEHIND_PROXY is on, read from the file itself."""
    monkeypatch.setenv("BEHIND_PROXY", "1")
    monkeypatch.setenv("PROXY_COUNT", str(proxy_count))
    values = runpy.run_path(str(Path(settings.BASE_DIR) / "pit_portal" / "settings.py"))
    return {name: value for name, value in values.items() if name.startswith(("AXES_IPWARE", "IPWARE"))}


@pytest.mark.parametrize(
    ("proxy_count", "forwarded_for", "client_ip"),
    [
        # One proxy appends the client's address: the right-most entry, whatever the client wrote before it.
        (1, "203.0.113.7", "203.0.113.7"),
        (1, "6.6.6.6, 203.0.113.7", "203.0.113.7"),
        (1, "6.6.6.6, 7.7.7.7, 203.0.113.7", "203.0.113.7"),
        (1, "192.168.1.20", "192.168.1.20"),
        # A CDN in front of our proxy: the CDN appended the client, our proxy appended the CDN.
        (2, "6.6.6.6, 203.0.113.7, 104.16.0.1", "203.0.113.7"),
    ],
)
def test_behind_the_proxy_the_client_is_the_hop_the_proxy_appended(monkeypatch, proxy_count, forwarded_for, client_ip):
    request = RequestFactory().get("/", HTTP_X_FORWARDED_FOR=forwarded_for, REMOTE_ADDR="10.0.0.2")
    with override_settings(**proxy_settings(monkeypatch, proxy_count)):
        assert get_client_ip_address(request) == client_ip


def test_not_behind_a_proxy_the_header_is_ignored(client):
    request = RequestFactory().get("/", HTTP_X_FORWARDED_FOR="6.6.6.6", REMOTE_ADDR=HOME)
    assert get_client_ip_address(request) == HOME


def test_behind_the_proxy_lockout_and_audit_use_the_real_client_address(monkeypatch, client, clinician):
    address_limit = {"LOGIN_ADDRESS_FAILURE_LIMIT": settings.AXES_FAILURE_LIMIT}
    with override_settings(**proxy_settings(monkeypatch, 1), **address_limit):
        # The client rewrites its own part of the header on every try; the proxy's hop stays the same.
        for n in range(settings.AXES_FAILURE_LIMIT):
            response = sign_in(client, f"guess{n}", WRONG, ip="10.0.0.2", HTTP_X_FORWARDED_FOR=f"6.6.6.{n}, {HOME}")
        assert response.status_code == 429
        assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {HOME}
        assert {event.ip_address for event in events(Action.LOGIN_FAILED)} == {HOME}
        assert events(Action.LOCKED_OUT).get().ip_address == HOME
        # Another client behind the same proxy is not affected.
        other = sign_in(Client(), "alice", PASSWORD, ip="10.0.0.2", HTTP_X_FORWARDED_FOR=ELSEWHERE)
        assert other.status_code == 302


# --- lifting the pause ----------------------------------------------------------------------------


def test_manager_unlocks_and_the_user_signs_in(client, clinician, manager_client, manager):
    fail_until_locked(client)
    response = manager_client.post(reverse("security_unlock", kwargs={"pk": clinician.pk}))
    assert response.status_code == 302
    assert sign_in(client, "alice", PASSWORD).status_code == 302
    assert get_user(client) == clinician
    unlocked = events(Action.UNLOCKED).get()
    assert unlocked.actor == manager
    assert unlocked.object_id == str(clinician.pk)
    assert unlocked.detail["attempts_cleared"] >= 1


def test_signing_in_clears_earlier_failures(client, clinician):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        sign_in(client, "alice", WRONG)
    sign_in(client, "alice", PASSWORD)
    client.post(reverse("logout"))
    # Four more failures are again below the limit: the count started over.
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert sign_in(client, "alice", WRONG).status_code == 200
    assert sign_in(client, "alice", PASSWORD).status_code == 302
