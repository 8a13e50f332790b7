"""The site's main menu: the links each user may follow and no other, their own name, a logout that works, and
the menu drawn afresh when what the user may do changes."""

import re

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from accounts.models import Role, User
from tests.factories import UserFactory

# Every page the menu can link to, by the link's text.
MENU_PAGES = {
    "Appointments": "portal:home",
    "Documents": "portal:documents",
    "My details": "portal:contact",
    "Consent": "portal:consent",
    "My record": "portal:record_copy",
    "Patients": "patients:list",
    "Register patient": "patients:register",
    "Calendar": "scheduling:day",
    "Find a slot": "scheduling:slots",
    "Recall": "scheduling:recall",
    "Lot recall": "treatments:lot_recall",
    "Adverse events": "safety:log",
    "User accounts": "security_users",
    "Audit trail": "audit:events",
    "Registry export": "registry:exports",
    "FHIR bulk export": "interop:bulk_exports",
    "Import": "imports:list",
    "Data requests": "patients:data_requests_open",
    "Outcomes": "outcomes:report",
    "Administration": "admin:index",
    "Account security": "account_security",
    "Change password": "password_change",
}
NAV = re.compile(r'<nav class="navbar[^>]*aria-label="Main">(.*?)</nav>', re.S)
NAV_LINK = re.compile(r'<a class="(?:nav-link|dropdown-item)" href="([^"]+)">([^<]+)</a>')
LOGOUT_TOKEN = re.compile(r'action="/accounts/logout/"><input type="hidden" name="csrfmiddlewaretoken" value="([^"]+)"')


def menu_of(client: Client) -> str:
    response = client.get(reverse("home"))
    assert response.status_code == 200
    [menu] = NAV.findall(response.content.decode())
    return menu


def links_in(menu: str) -> dict[str, str]:
    return {text: href for href, text in NAV_LINK.findall(menu)}


@pytest.mark.parametrize("role", ["clinician", "front_desk", "manager", "patient_user", "outsider"])
def test_each_user_sees_the_links_they_may_follow_and_no_other(request, role, patient):
    user = request.getfixturevalue(role)
    client = Client()
    client.force_login(user)
    shown = links_in(menu_of(client))
    assert shown == {text: reverse(name) for text, name in MENU_PAGES.items() if text in shown}
    for text, name in MENU_PAGES.items():
        opens = client.get(reverse(name)).status_code != 403
        assert opens == (text in shown), f"{role}: {text}"


def test_the_menu_shows_each_user_their_own_name_escaped(db):
    shown_as = {("Ann", "<b>Lee</b>"): "Ann &lt;b&gt;Lee&lt;/b&gt;", ("Ben", "Ortiz"): "Ben Ortiz"}
    for (first, last), shown in shown_as.items():
        client = Client()
        client.force_login(UserFactory(first_name=first, last_name=last, role=Role.CLINICIAN))
        menu = menu_of(client)
        assert shown in menu and "<b>" not in menu
        assert not any(other in menu for other in shown_as.values() if other != shown)


def test_the_menu_s_logout_carries_a_token_that_signs_out(clinician):
    client = Client(enforce_csrf_checks=True)
    client.force_login(clinician)
    [token] = LOGOUT_TOKEN.findall(menu_of(client))
    assert client.post(reverse("logout"), {"csrfmiddlewaretoken": token}).status_code == 302
    assert client.get(reverse("home")).status_code == 302  # to the sign-in page


def test_a_new_permission_shows_in_the_menu_at_once(clinician_client, clinician):
    assert "User accounts" not in links_in(menu_of(clinician_client))
    clinician.user_permissions.add(Permission.objects.get(codename="manage_account_security"))
    assert "User accounts" in links_in(menu_of(clinician_client))
    User.objects.filter(pk=clinician.pk).update(is_staff=True)
    assert "Administration" in links_in(menu_of(clinician_client))


def test_signed_out_pages_show_the_clinic_s_name_and_no_menu(client, settings):
    settings.CLINIC_NAME = "Harbour Pain Clinic"
    response = client.get(reverse("login"))
    [menu] = NAV.findall(response.content.decode())
    assert "Harbour Pain Clinic" in menu and not links_in(menu) and "Log out" not in menu
