"""Signing in and out, changing the password, and where each kind of user lands."""

import pytest
from django.contrib.auth import get_user
from django.http import HttpRequest
from django.urls import reverse

from accounts.models import Role
from tests.factories import PASSWORD, UserFactory

NEW_PASSWORD = "a-new-long-passphrase-42"


def signed_in_user(client):
    return get_user(client)


# --- sign in --------------------------------------------------------------------------------------


def test_correct_password_signs_in_and_goes_home(client, clinician):
    response = client.post(reverse("login"), {"username": "alice", "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == reverse("home")
    assert signed_in_user(client) == clinician


@pytest.mark.parametrize(
    ("username", "password"),
    [("alice", "wrong-password"), ("nobody", PASSWORD), ("alice", ""), ("", PASSWORD)],
)
def test_wrong_credentials_are_refused_with_a_message(client, clinician, username, password):
    response = client.post(reverse("login"), {"username": username, "password": password})
    assert response.status_code == 200
    assert response.context["form"].errors
    assert not signed_in_user(client).is_authenticated


def test_wrong_password_and_unknown_user_get_the_same_message(client, clinician):
    wrong_password = client.post(reverse("login"), {"username": "alice", "password": "wrong-password"})
    unknown_user = client.post(reverse("login"), {"username": "nobody", "password": "wrong-password"})
    message = wrong_password.context["form"].non_field_errors()
    assert message
    assert message == unknown_user.context["form"].non_field_errors()
    assert "Please enter a correct username and password" in wrong_password.content.decode()


def test_deactivated_account_cannot_sign_in(client, clinician):
    clinician.is_active = False
    clinician.save()
    response = client.post(reverse("login"), {"username": "alice", "password": PASSWORD})
    assert response.status_code == 200
    assert not signed_in_user(client).is_authenticated


def test_sign_in_returns_to_the_page_asked_for(client, clinician):
    wanted = reverse("patients:list")
    response = client.post(reverse("login"), {"username": "alice", "password": PASSWORD, "next": wanted})
    assert response["Location"] == wanted


@pytest.mark.parametrize("elsewhere", ["https://evil.example/", "//evil.example/", "http://evil.example/login"])
def test_sign_in_never_sends_the_user_to_another_site(client, clinician, elsewhere):
    response = client.post(reverse("login"), {"username": "alice", "password": PASSWORD, "next": elsewhere})
    assert response.status_code == 302
    assert response["Location"] == reverse("home")


def test_signed_in_user_opening_the_sign_in_page_goes_home(clinician_client):
    response = clinician_client.get(reverse("login"))
    assert response.status_code == 302
    assert response["Location"] == reverse("home")


def test_staff_land_on_the_staff_home(clinician_client):
    response = clinician_client.get(reverse("home"))
    assert response.status_code == 200
    assert response.templates[0].name == "accounts/staff_home.html"


def test_patient_lands_on_their_own_portal_page(patient_client, patient, other_patient):
    response = patient_client.get(reverse("home"))
    page = response.content.decode()
    assert response.status_code == 200
    assert response.context["patient"] == patient
    assert patient.clinic_number in page
    assert other_patient.clinic_number not in page


def test_patient_without_a_linked_record_is_told_so(client, db):
    unlinked = UserFactory(username="pat", role=Role.PATIENT)
    client.force_login(unlinked)
    response = client.get(reverse("home"))
    assert response.context["patient"] is None
    assert "not yet linked to a patient record" in response.content.decode()


# --- sign out -------------------------------------------------------------------------------------


def test_sign_out_ends_the_session(clinician_client):
    response = clinician_client.post(reverse("logout"))
    assert response.status_code == 302
    assert response["Location"] == reverse("login")
    assert not signed_in_user(clinician_client).is_authenticated
    assert clinician_client.get(reverse("patients:list")).status_code == 302


def test_sign_out_by_link_is_not_possible(clinician_client, clinician):
    """A GET must not sign anyone out: an <img src> on another page could otherwise do it."""
    response = clinician_client.get(reverse("logout"))
    assert response.status_code == 405
    assert signed_in_user(clinician_client) == clinician


# --- password change ------------------------------------------------------------------------------


def change_password(client, old: str, new1: str, new2: str | None = None):
    return client.post(
        reverse("password_change"),
        {"old_password": old, "new_password1": new1, "new_password2": new1 if new2 is None else new2},
    )


def test_password_change_keeps_the_user_signed_in(client, clinician):
    client.force_login(clinician)
    response = change_password(client, PASSWORD, NEW_PASSWORD)
    assert response.status_code == 302
    assert response["Location"] == reverse("password_change_done")
    clinician.refresh_from_db()
    assert clinician.check_password(NEW_PASSWORD)
    assert not clinician.check_password(PASSWORD)
    assert signed_in_user(client) == clinician


def test_new_password_signs_in_and_the_old_one_does_not(client, clinician):
    client.force_login(clinician)
    change_password(client, PASSWORD, NEW_PASSWORD)
    client.logout()
    # django-axes refuses to authenticate without a request (it counts failures per client).
    assert not client.login(request=HttpRequest(), username="alice", password=PASSWORD)
    assert client.login(request=HttpRequest(), username="alice", password=NEW_PASSWORD)


@pytest.mark.parametrize(
    ("old", "new1", "new2", "field", "message"),
    [
        ("wrong-password", NEW_PASSWORD, None, "old_password", "Your old password was entered incorrectly"),
        (PASSWORD, NEW_PASSWORD, NEW_PASSWORD + "x", "new_password2", "didn\u2019t match"),
        (PASSWORD, "short1!", None, "new_password2", "too short"),
        (PASSWORD, "password1234", None, "new_password2", "too common"),
        (PASSWORD, "4815162342108", None, "new_password2", "entirely numeric"),
    ],
)
def test_bad_password_change_is_refused_with_a_message(client, clinician, old, new1, new2, field, message):
    client.force_login(clinician)
    response = change_password(client, old, new1, new2)
    assert response.status_code == 200
    errors = response.context["form"].errors[field]
    assert any(message in error for error in errors), errors
    clinician.refresh_from_db()
    assert clinician.check_password(PASSWORD)


def test_password_change_page_needs_a_signed_in_user(client):
    response = change_password(client, PASSWORD, NEW_PASSWORD)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
