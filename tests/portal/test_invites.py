"""Portal invitations: staff send one, the worker emails a link whose token is stored only hashed, used once."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user
from django.core import mail
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from accounts.models import Role, User
from patients.models import Patient
from pit_portal.outbox.models import EmailKind
from portal.invite_status import invite_status_box
from portal.models import PatientInvite
from portal.tasks import send_invite
from tests.factories import PatientFactory, UserFactory
from tests.outbox.helpers import owed, record_sends
from tests.portal.helpers import make_invite

STRONG_PASSWORD = "harbour-lantern-91"
LINK = re.compile(r"https://portal\.example\.org/portal/invite/([A-Za-z0-9_-]+)/")


@pytest.fixture
def enqueued(monkeypatch) -> list[int]:
    """The outbox ids the messages to the broker would carry (tests.outbox.helpers.owed names them)."""
    return record_sends(monkeypatch)


@pytest.fixture
def new_patient(db) -> Patient:
    return PatientFactory(given_name="Eleanor", family_name="Whitcombe", email="eleanor@example.org")


def invite_url(patient: Patient) -> str:
    return reverse("portal:invite_new", kwargs={"patient_pk": patient.pk})


def accept_url(token: str) -> str:
    return reverse("portal:invite_accept", kwargs={"token": token})


def accept(client, token: str, username: str = "eleanor", password: str = STRONG_PASSWORD):
    return client.post(accept_url(token), {"username": username, "password1": password, "password2": password})


# --- Creating and sending ------------------------------------------------------------------------------------


def test_invite_is_enqueued_after_commit_with_only_its_id(
    front_desk_client, new_patient, enqueued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = front_desk_client.post(invite_url(new_patient))
    assert response.status_code == 302
    assert response["Location"] == reverse("patients:detail", kwargs={"pk": new_patient.pk})
    assert enqueued == []  # nothing reaches the broker while the transaction is open
    for callback in callbacks:
        callback()
    invite = PatientInvite.objects.get(patient=new_patient)
    assert owed(enqueued) == [(EmailKind.INVITATION, invite.pk)]
    assert invite.email == "eleanor@example.org"
    assert abs(invite.expires_at - invite.created_at - timedelta(days=7)) < timedelta(seconds=5)


def test_worker_emails_a_link_whose_token_is_stored_only_as_its_hash(front_desk, new_patient):
    invite = make_invite(new_patient, "placeholder", by=front_desk)
    assert send_invite(invite.pk) is True
    [message] = mail.outbox
    assert message.to == ["eleanor@example.org"]
    token = LINK.search(message.body).group(1)
    invite.refresh_from_db()
    assert invite.token_sha256 == PatientInvite.digest(token)
    row = PatientInvite.objects.filter(pk=invite.pk).values().get()
    assert all(token not in str(value) for value in row.values())


def test_a_retry_issues_a_new_link_and_the_old_one_stops_working(client, front_desk, new_patient):
    invite = make_invite(new_patient, "placeholder", by=front_desk)
    send_invite(invite.pk)
    send_invite(invite.pk)
    first, second = (LINK.search(message.body).group(1) for message in mail.outbox)
    assert first != second
    assert client.get(accept_url(first)).status_code == 404
    assert client.get(accept_url(second)).status_code == 200


def test_worker_sends_nothing_for_a_revoked_invite(front_desk, new_patient):
    invite = make_invite(new_patient, "placeholder", by=front_desk, revoked_at=timezone.now())
    assert send_invite(invite.pk) is False
    assert mail.outbox == []


def test_a_new_invite_revokes_the_open_one(front_desk_client, new_patient, enqueued):
    old = make_invite(new_patient, "old-token")
    front_desk_client.post(invite_url(new_patient))
    old.refresh_from_db()
    assert old.revoked_at is not None
    assert PatientInvite.objects.filter(patient=new_patient, revoked_at=None).count() == 1


def test_patient_with_an_account_is_not_invited(front_desk_client, patient, enqueued):
    response = front_desk_client.post(invite_url(patient), follow=True)
    assert "This patient already has a portal account." in response.content.decode()
    assert not PatientInvite.objects.filter(patient=patient).exists()


def test_patient_without_email_is_not_invited(clinician_client, enqueued):
    patient = PatientFactory(email="")
    response = clinician_client.post(invite_url(patient), follow=True)
    assert "Add the patient&#x27;s email address before inviting them." in response.content.decode()
    assert not PatientInvite.objects.exists()


@pytest.mark.parametrize("role", ["manager", "patient", "outsider"])
def test_roles_without_the_permission_cannot_invite(request, role, new_patient, enqueued):
    client = request.getfixturevalue(f"{role}_client")
    assert client.post(invite_url(new_patient)).status_code == 403
    assert not PatientInvite.objects.exists()


# --- Accepting -----------------------------------------------------------------------------------------------


def test_patient_accepts_and_is_signed_in_to_the_portal(client, new_patient):
    invite = make_invite(new_patient, "good-token")
    page = client.get(accept_url("good-token"))
    assert page.status_code == 200
    assert "Welcome, Eleanor" in page.content.decode()
    assert page["Cache-Control"].startswith("max-age=0")

    response = accept(client, "good-token")
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:home")
    user = User.objects.get(username="eleanor")
    assert get_user(client) == user
    assert user.has_role(Role.PATIENT)
    assert (user.email, user.first_name, user.last_name) == ("eleanor@example.org", "Eleanor", "Whitcombe")
    new_patient.refresh_from_db()
    assert new_patient.user == user
    invite.refresh_from_db()
    assert invite.used_at is not None
    assert client.get(reverse("portal:home")).status_code == 200


def test_used_invite_is_gone_and_makes_no_second_account(client, new_patient):
    make_invite(new_patient, "good-token")
    accept(client, "good-token")
    client.logout()
    response = accept(client, "good-token", username="someone-else")
    assert response.status_code == 410
    assert "already been used" in response.content.decode()
    assert not User.objects.filter(username="someone-else").exists()


def test_expired_invite_is_gone(client, new_patient):
    make_invite(new_patient, "old-token", expires_at=timezone.now() - timedelta(minutes=1))
    assert client.get(accept_url("old-token")).status_code == 410
    response = accept(client, "old-token")
    assert response.status_code == 410
    assert "has expired" in response.content.decode()
    assert not User.objects.filter(username="eleanor").exists()


def test_revoked_invite_is_gone(client, new_patient):
    make_invite(new_patient, "old-token", revoked_at=timezone.now())
    response = accept(client, "old-token")
    assert response.status_code == 410
    assert not User.objects.filter(username="eleanor").exists()


def test_unknown_token_is_not_found(client, new_patient):
    make_invite(new_patient, "good-token")
    response = accept(client, "a-token-nobody-sent")
    assert response.status_code == 404
    assert "could not find this invitation" in response.content.decode()
    assert not User.objects.filter(username="eleanor").exists()


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("short1", "This password is too short."),
        ("password123", "This password is too common."),
        ("48210573916", "This password is entirely numeric."),
        ("whitcombe2026", "The password is too similar to the"),
    ],
)
def test_weak_password_is_refused_and_no_account_made(client, new_patient, password, message):
    invite = make_invite(new_patient, "good-token")
    response = accept(client, "good-token", password=password)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not User.objects.filter(username="eleanor").exists()
    invite.refresh_from_db()
    assert invite.used_at is None


def test_mismatched_passwords_are_refused(client, new_patient):
    make_invite(new_patient, "good-token")
    response = client.post(
        accept_url("good-token"), {"username": "eleanor", "password1": STRONG_PASSWORD, "password2": "other-words-42"}
    )
    assert response.status_code == 400
    assert not User.objects.filter(username="eleanor").exists()


def test_taken_username_is_refused(client, new_patient):
    UserFactory(username="Eleanor")
    make_invite(new_patient, "good-token")
    response = accept(client, "good-token", username="eleanor")
    assert response.status_code == 400
    assert "A user with that username already exists." in response.content.decode()


def test_signed_in_user_cannot_use_an_invite(front_desk_client, front_desk, new_patient):
    make_invite(new_patient, "good-token")
    response = accept(front_desk_client, "good-token", username="eleanor")
    assert "Please sign out first" in response.content.decode()
    assert not User.objects.filter(username="eleanor").exists()
    assert get_user(front_desk_client) == front_desk


# --- The patient page's portal box (portal.invite_status, placed by patients.views) ----------------------------


def _on_the_page(patient: Patient) -> Patient:
    """The patient as the patient page reads them, with their newest invitation."""
    from patients.views import patient_page_record

    return patient_page_record().get(pk=patient.pk)


def invite_box(user, patient) -> str:
    request = RequestFactory().get("/")
    request.user = user
    return invite_status_box(request, _on_the_page(patient))


def test_patient_page_offers_an_invite_only_where_one_can_be_sent(front_desk, patient, new_patient):
    assert f'action="{invite_url(new_patient)}"' in invite_box(front_desk, new_patient)
    assert "Uses the patient portal" in invite_box(front_desk, patient)
    assert "Add an email address" in invite_box(front_desk, PatientFactory(email=""))
    make_invite(new_patient, "open-token")
    assert "valid until" in invite_box(front_desk, new_patient)
    assert "Send a new portal invitation" in invite_box(front_desk, new_patient)


def test_patient_page_shows_no_invite_box_without_the_permission(manager, new_patient):
    assert invite_box(manager, new_patient).strip() == ""


@pytest.mark.parametrize("state", ["none", "open", "used", "revoked", "expired"])
def test_the_page_record_holds_the_newest_invitation(new_patient, state):
    if state != "none":
        now = timezone.now()
        older = make_invite(new_patient, "older-token")
        PatientInvite.objects.filter(pk=older.pk).update(created_at=now - timedelta(days=20), expires_at=now)
        newest = make_invite(new_patient, "newest-token")
        changes = {
            "used": {"used_at": now},
            "revoked": {"revoked_at": now},
            "expired": {"created_at": now - timedelta(days=8), "expires_at": now - timedelta(days=1)},
        }
        PatientInvite.objects.filter(pk=newest.pk).update(**changes.get(state, {}))
    from_record = getattr(_on_the_page(new_patient), "newest_invite", None)
    assert from_record == new_patient.invites.order_by("-created_at", "-pk").first()
    assert (from_record is None) is (state == "none")
    assert (from_record is not None and from_record.is_open) is (state == "open")
