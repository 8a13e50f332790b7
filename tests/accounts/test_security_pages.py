"""The managers' account-security pages: the list of accounts, one account, and the three actions."""

import pytest
from django.conf import settings
from django.contrib.auth import get_user
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse
from django_otp import user_has_device
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import Role
from audit.models import Action, AuditEvent
from tests.factories import PASSWORD, UserFactory

LIST = reverse("security_users")


def detail_url(user) -> str:
    return reverse("security_user", kwargs={"pk": user.pk})


def lock_out(username: str) -> None:
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(reverse("login"), {"username": username, "password": "wrong-password"})


def row_for(page: str, username: str) -> str:
    start = page.index(f">{username}</a>")
    return page[start : page.index("</tr>", start)]


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


# --- the list -------------------------------------------------------------------------------------


def test_list_shows_role_lockout_second_factor_and_last_sign_in(
    manager_client, clinician, front_desk, patient_user, clinician_client
):
    lock_out("bob")
    page = manager_client.get(LIST).content.decode()
    alice = row_for(page, "alice")
    assert "Clinician" in alice
    assert "Can sign in" in alice
    assert "On" in alice  # clinician_client signed in with an authenticator app
    assert "Never" not in alice
    bob = row_for(page, "bob")
    assert "Front desk" in bob
    assert "Locked out" in bob
    assert "Off" in bob
    assert "Never" in bob
    assert "Patient" in row_for(page, "charlie")


def test_list_shows_deactivated_accounts_as_such(manager_client, db):
    UserFactory(username="gone", is_active=False)
    assert "Deactivated" in row_for(manager_client.get(LIST).content.decode(), "gone")


@pytest.mark.parametrize("query", ["ali", "ALICE", "Carter", "alice carter"])
def test_search_by_username_or_name(manager_client, clinician, front_desk, query):
    page = manager_client.get(LIST, {"q": query}).content.decode()
    assert ">alice</a>" in page
    assert ">bob</a>" not in page


def test_search_with_no_match_says_so(manager_client, clinician):
    page = manager_client.get(LIST, {"q": "zzz"}).content.decode()
    assert "No account matches" in page


def test_overlong_search_is_refused_with_a_message(manager_client, clinician):
    response = manager_client.get(LIST, {"q": "x" * 101})
    assert response.status_code == 200
    assert response.context["form"].errors["q"]
    assert ">alice</a>" in response.content.decode()


def test_list_is_paginated_and_keeps_the_search(manager_client, db):
    UserFactory.create_batch(30, last_name="Pagewood")
    first = manager_client.get(LIST, {"q": "Pagewood"})
    assert len(first.context["page"].object_list) == 25
    assert "?q=Pagewood&amp;page=2" in first.content.decode()
    second = manager_client.get(LIST, {"q": "Pagewood", "page": 2})
    assert len(second.context["page"].object_list) == 5
    assert manager_client.get(LIST, {"page": "not-a-number"}).status_code == 200


def test_list_runs_a_fixed_number_of_queries(manager_client, django_assert_num_queries):
    def make_accounts(count: int) -> None:
        for _ in range(count):
            user = UserFactory(role=Role.FRONT_DESK)
            TOTPDevice.objects.create(user=user, name="app", confirmed=True)
            lock_out(user.username)

    make_accounts(2)
    # The list of paused addresses is one query of its own beside the accounts list.
    with django_assert_num_queries(8) as few:
        assert manager_client.get(LIST).status_code == 200
    # Read now: the sign-in attempts below start requests, which clear the connection's query log.
    query_count = len(few.captured_queries)
    make_accounts(20)
    with django_assert_num_queries(query_count):
        response = manager_client.get(LIST)
    assert len(response.context["page"].object_list) == 23


# --- one account ----------------------------------------------------------------------------------


def test_detail_shows_status_and_recent_activity(manager_client, clinician):
    lock_out("alice")
    response = manager_client.get(detail_url(clinician))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Locked out" in page
    assert f"{settings.AXES_FAILURE_LIMIT} failed attempts recently" in page
    assert "Sign-in failed" in page
    assert "Locked out" in page
    for button in ("Unlock account", "Sign alice out everywhere", "Reset alice\u2019s second factor"):
        assert button in page


def test_detail_of_an_unknown_account_is_not_found(manager_client, db):
    assert manager_client.get(reverse("security_user", kwargs={"pk": 999999})).status_code == 404
    assert manager_client.post(reverse("security_unlock", kwargs={"pk": 999999})).status_code == 404


def test_non_managers_cannot_act(clinician_client, front_desk):
    for name in ("security_unlock", "security_revoke_sessions", "security_reset_mfa"):
        assert clinician_client.post(reverse(name, kwargs={"pk": front_desk.pk})).status_code == 403
    assert not AuditEvent.objects.filter(action__in=[Action.UNLOCKED, Action.SESSIONS_REVOKED]).exists()


def test_nav_links_managers_to_the_accounts(manager_client, clinician_client):
    assert f'href="{LIST}"' in manager_client.get(reverse("home")).content.decode()
    assert f'href="{LIST}"' not in clinician_client.get(reverse("home")).content.decode()


# --- the actions ----------------------------------------------------------------------------------


def test_unlock_lets_the_user_sign_in_and_says_so(manager_client, manager, clinician):
    lock_out("alice")
    response = manager_client.post(reverse("security_unlock", kwargs={"pk": clinician.pk}))
    assert response["Location"] == detail_url(clinician)
    assert messages_of(response) == ["alice can sign in again."]
    assert "Can sign in" in manager_client.get(detail_url(clinician)).content.decode()
    event = AuditEvent.objects.get(action=Action.UNLOCKED)
    assert (event.actor, event.object_id) == (manager, str(clinician.pk))
    client = Client()
    client.post(reverse("login"), {"username": "alice", "password": PASSWORD})
    assert get_user(client) == clinician


def test_revoke_sessions_is_audited_and_says_so(manager_client, manager, clinician):
    before = type(clinician).objects.get(pk=clinician.pk).session_generation
    response = manager_client.post(reverse("security_revoke_sessions", kwargs={"pk": clinician.pk}))
    assert messages_of(response) == ["alice is signed out everywhere, from their next page on."]
    clinician.refresh_from_db()
    assert clinician.session_generation == before + 1
    event = AuditEvent.objects.get(action=Action.SESSIONS_REVOKED)
    assert (event.actor, event.object_id) == (manager, str(clinician.pk))


def test_a_manager_revoking_their_own_sessions_is_signed_out_too(manager_client, manager):
    response = manager_client.post(reverse("security_revoke_sessions", kwargs={"pk": manager.pk}))
    assert "this browser included" in messages_of(response)[0]
    assert manager_client.get(reverse("home")).status_code == 302
    assert not get_user(manager_client).is_authenticated


def test_reset_second_factor_removes_the_devices_and_staff_must_enrol_again(manager_client, manager, clinician):
    alice = Client()
    alice.force_login(clinician)  # with an authenticator app
    assert user_has_device(clinician)
    response = manager_client.post(reverse("security_reset_mfa", kwargs={"pk": clinician.pk}))
    assert response["Location"] == detail_url(clinician)
    assert "Second factor removed for alice" in messages_of(response)[0]
    assert not user_has_device(clinician)
    event = AuditEvent.objects.get(action=Action.MFA_RESET)
    assert (event.actor, event.object_id) == (manager, str(clinician.pk))
    next_page = alice.get(reverse("patients:list"))
    assert next_page.status_code == 302
    assert next_page["Location"].startswith(reverse("mfa_enrol"))


def test_reset_second_factor_of_someone_without_one_says_so(manager_client, patient_user):
    response = manager_client.post(reverse("security_reset_mfa", kwargs={"pk": patient_user.pk}))
    assert messages_of(response) == ["charlie had no second factor to remove."]
