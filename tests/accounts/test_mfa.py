"""The second factor: enrolling an app through the real forms, verifying, backup codes, throttling,
the middleware in front of every page, the admin, a manager's reset, a patient's choice, and the audit trail."""

import json
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client, RequestFactory
from django.urls import resolve, reverse
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import mfa
from accounts.mfa_forms import ANY_CODE_FORMAT, APP_CODE_FORMAT
from accounts.middleware import MFA_EXEMPT_VIEWS
from audit.models import Action, AuditEvent
from pit_portal.admin import PortalAdminSite
from tests.accounts.mfa_helpers import (
    code_for,
    code_for_secret,
    confirmed_device,
    let_the_throttle_pass,
    wrong_code_for,
)
from tests.factories import PASSWORD
from tests.test_url_matrix import MATRIX
from tests.test_url_matrix import private_storage as private_storage  # autouse: documents made for rows

ENROL = reverse("mfa_enrol")
VERIFY = reverse("mfa_verify")
BACKUP_CODES = reverse("mfa_backup_codes")
TURN_OFF = reverse("mfa_turn_off")
SECURITY = reverse("account_security")


def sign_in_with_password(client: Client, username: str, next_url: str = "/"):
    return client.post(reverse("login"), {"username": username, "password": PASSWORD, "next": next_url})


def redirect_target(response) -> tuple[str, list[str] | None]:
    assert response.status_code == 302, response.status_code
    location = urlsplit(response["Location"])
    return location.path, parse_qs(location.query).get("next")


def is_verified(client: Client) -> bool:
    return DEVICE_ID_SESSION_KEY in client.session


def enrol(client: Client, next_url: str = "/"):
    """Open the enrolment page and confirm with the code for the secret it shows; the backup-codes page."""
    page = client.get(ENROL, {"next": next_url})
    assert page.status_code == 200
    return client.post(ENROL, {"code": code_for_secret(page.context["secret"]), "next": next_url})


def events(action: Action) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("id"))


# --- enrolment ------------------------------------------------------------------------------------


def test_first_sign_in_goes_through_enrolment_to_the_page_asked_for(client, clinician):
    wanted = reverse("patients:list")
    response = sign_in_with_password(client, "alice", wanted)
    assert response["Location"] == wanted
    assert redirect_target(client.get(wanted)) == (ENROL, [wanted])

    page = client.get(ENROL, {"next": wanted})
    device = TOTPDevice.objects.get(user=clinician)
    assert not device.confirmed
    assert page.context["secret"].replace(" ", "") == mfa.grouped_secret(device).replace(" ", "")
    content = page.content.decode()
    assert 'src="data:image/svg+xml' in content
    assert page.context["secret"] in content
    assert "<script>" not in content and " onclick=" not in content

    done = client.post(ENROL, {"code": code_for(device), "next": wanted})
    assert done.status_code == 200
    assert done.templates[0].name == "accounts/mfa_backup_codes.html"
    assert f'href="{wanted}">Continue</a>' in done.content.decode()
    device.refresh_from_db()
    assert device.confirmed
    assert is_verified(client)
    assert client.get(wanted).status_code == 200


def test_the_real_login_form_leads_to_enrolment_when_redirects_are_followed(client, manager):
    response = client.post(reverse("login"), {"username": "mona", "password": PASSWORD, "next": "/"}, follow=True)
    assert response.status_code == 200
    assert response.templates[0].name == "accounts/mfa_enrol.html"
    assert response.redirect_chain == [("/", 302), (f"{ENROL}?next=%2F", 302)]


def test_the_enrolment_page_keeps_its_secret_until_confirmed(client, clinician):
    client.force_login(clinician, verified=False)
    first = client.get(ENROL).context["secret"]
    again = client.get(ENROL).context["secret"]
    assert first == again
    assert TOTPDevice.objects.filter(user=clinician).count() == 1


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("", APP_CODE_FORMAT),
        ("12345", APP_CODE_FORMAT),
        ("12a456", APP_CODE_FORMAT),
        ("1234567", APP_CODE_FORMAT),
        ("wrong", APP_CODE_FORMAT),
        (None, mfa.WRONG_CODE),  # six digits, but not the app's code
    ],
)
def test_a_wrong_code_is_refused_with_a_message_and_nothing_is_confirmed(client, clinician, typed, message):
    client.force_login(clinician, verified=False)
    client.get(ENROL)
    device = TOTPDevice.objects.get(user=clinician)
    response = client.post(ENROL, {"code": wrong_code_for(device) if typed is None else typed})
    assert response.status_code == 200
    assert response.context["form"].errors["code"] == [message]
    assert message in response.content.decode()
    device.refresh_from_db()
    assert not device.confirmed
    assert not StaticDevice.objects.filter(user=clinician).exists()
    assert not is_verified(client)
    assert redirect_target(client.get(reverse("home")))[0] == ENROL


def test_a_password_alone_cannot_enrol_a_second_app(client, clinician):
    """Someone who knows only the password of a user who has an app is sent to verify, never to a new QR code."""
    confirmed_device(clinician)
    client.force_login(clinician, verified=False)
    assert redirect_target(client.get(ENROL)) == (VERIFY, ["/"])
    assert redirect_target(client.post(ENROL, {"code": "123456"}))[0] == VERIFY
    assert TOTPDevice.objects.filter(user=clinician).count() == 1


# --- verifying ------------------------------------------------------------------------------------


def test_signing_in_with_an_app_asks_for_the_code_then_goes_to_the_page_asked_for(client, clinician):
    device = confirmed_device(clinician)
    wanted = reverse("scheduling:day")
    sign_in_with_password(client, "alice", wanted)
    assert redirect_target(client.get(wanted)) == (VERIFY, [wanted])
    page = client.get(VERIFY, {"next": wanted})
    assert page.status_code == 200
    response = client.post(VERIFY, {"code": code_for(device), "next": wanted})
    assert response["Location"] == wanted
    assert client.get(wanted).status_code == 200


@pytest.mark.parametrize("elsewhere", ["https://evil.example/", "//evil.example/", "javascript:alert(1)"])
def test_verify_never_sends_the_user_to_another_site(client, clinician, elsewhere):
    device = confirmed_device(clinician)
    client.force_login(clinician, verified=False)
    response = client.post(VERIFY, {"code": code_for(device), "next": elsewhere})
    assert response["Location"] == reverse("home")


@pytest.mark.parametrize(("typed", "message"), [("", ANY_CODE_FORMAT), ("12 34", ANY_CODE_FORMAT)])
def test_verify_refuses_a_code_of_the_wrong_shape(client, clinician, typed, message):
    confirmed_device(clinician)
    client.force_login(clinician, verified=False)
    response = client.post(VERIFY, {"code": typed})
    assert response.status_code == 200
    assert response.context["form"].errors["code"] == [message]
    assert not is_verified(client)


def test_a_code_already_used_is_refused(client, clinician):
    device = confirmed_device(clinician)
    code = code_for(device)
    client.force_login(clinician, verified=False)
    assert client.post(VERIFY, {"code": code}).status_code == 302
    other = Client()
    other.force_login(clinician, verified=False)
    response = other.post(VERIFY, {"code": code})
    assert response.status_code == 200
    assert response.context["form"].errors["code"] == [mfa.WRONG_CODE_OR_BACKUP]


def test_repeated_wrong_codes_are_throttled_even_the_right_code_waits(client, clinician):
    device = confirmed_device(clinician)
    client.force_login(clinician, verified=False)
    for _ in range(5):
        let_the_throttle_pass(clinician)
        response = client.post(VERIFY, {"code": wrong_code_for(device)})
        assert response.context["form"].errors["code"] == [mfa.WRONG_CODE_OR_BACKUP]

    # Five failures in a row: django-otp now asks for 2**4 = 16 seconds before the next try.
    throttled = client.post(VERIFY, {"code": code_for(device)})
    assert throttled.status_code == 200
    [message] = throttled.context["form"].errors["code"]
    wait = re.fullmatch(r"Too many wrong codes\. Wait (\d+) seconds, then try again\.", message)
    assert wait and 1 <= int(wait[1]) <= 16
    assert message in throttled.content.decode()
    assert not is_verified(client)
    assert events(Action.MFA_FAILED)[-1].detail == {"stage": "verify", "reason": "throttled"}

    let_the_throttle_pass(clinician)
    assert client.post(VERIFY, {"code": code_for(device)}).status_code == 302
    assert is_verified(client)
    device.refresh_from_db()
    assert device.throttling_failure_count == 0


def test_enrolment_is_throttled_too(client, clinician):
    client.force_login(clinician, verified=False)
    client.get(ENROL)
    device = TOTPDevice.objects.get(user=clinician)
    for _ in range(3):  # then 4 seconds to wait
        let_the_throttle_pass(clinician)
        client.post(ENROL, {"code": wrong_code_for(device)})
    response = client.post(ENROL, {"code": code_for(device)})
    assert response.context["form"].errors["code"][0].startswith("Too many wrong codes.")
    device.refresh_from_db()
    assert not device.confirmed


# --- backup codes ---------------------------------------------------------------------------------


def test_backup_codes_are_shown_once_and_each_works_once(client, clinician):
    client.force_login(clinician, verified=False)
    codes = enrol(client).context["codes"]
    assert len(codes) == 10
    assert len(set(codes)) == 10
    # Nothing shows them again: the page that issued them answers only a POST (which makes a new set),
    # and the security page gives the count only.
    assert client.get(BACKUP_CODES).status_code == 405
    security = client.get(SECURITY).content.decode()
    assert not any(code in security for code in codes)
    assert "10 of 10 unused" in security

    first = Client()
    sign_in_with_password(first, "alice")
    response = first.post(VERIFY, {"code": codes[0].upper(), "next": "/"})
    assert response["Location"] == "/"
    assert is_verified(first)
    assert mfa.backup_codes_left(clinician) == 9
    assert "Backup code used: 9 left." in [str(m) for m in first.get("/").context["messages"]]

    second = Client()
    sign_in_with_password(second, "alice")
    refused = second.post(VERIFY, {"code": codes[0]})
    assert refused.status_code == 200
    assert refused.context["form"].errors["code"] == [mfa.WRONG_CODE_OR_BACKUP]
    assert not is_verified(second)


def test_new_backup_codes_replace_the_old_ones(client, clinician):
    client.force_login(clinician, verified=False)
    old_codes = enrol(client).context["codes"]
    response = client.post(BACKUP_CODES)
    assert response.status_code == 200
    new_codes = response.context["codes"]
    assert set(new_codes).isdisjoint(old_codes)
    assert sorted(StaticToken.objects.filter(device__user=clinician).values_list("token", flat=True)) == sorted(
        new_codes
    )
    assert f'href="{SECURITY}">Continue</a>' in response.content.decode()

    other = Client()
    other.force_login(clinician, verified=False)
    assert other.post(VERIFY, {"code": old_codes[0]}).status_code == 200
    let_the_throttle_pass(clinician)
    assert other.post(VERIFY, {"code": new_codes[0]}).status_code == 302


# --- every page is behind the second factor -------------------------------------------------------


def _expect_for_exempt_view(view_name: str, response, has_device: bool) -> None:
    if view_name == "login":
        assert response.status_code == 302 and response["Location"] == reverse("home")
    elif view_name == "logout":
        assert response.status_code == 302 and response["Location"] == reverse("login")
    elif view_name == "mfa_enrol":
        if has_device:
            assert redirect_target(response)[0] == VERIFY
        else:
            assert response.status_code == 200 and response.templates[0].name == "accounts/mfa_enrol.html"
    elif view_name == "mfa_verify":
        if has_device:
            assert response.status_code == 200 and response.templates[0].name == "accounts/mfa_verify.html"
        else:
            assert redirect_target(response)[0] == ENROL
    else:  # e.g. the session keep-alive: never a page
        assert not (response.status_code == 200 and "html" in response.get("Content-Type", ""))


@pytest.mark.parametrize("has_device", [False, True], ids=["no app yet", "has an app"])
@pytest.mark.parametrize("persona", ["clinician", "manager"])
@pytest.mark.parametrize("route", sorted(MATRIX))
def test_an_unverified_staff_user_is_sent_to_the_second_factor_from_every_page(
    request, route, persona, has_device, patient
):
    user = request.getfixturevalue(persona)
    if has_device:
        confirmed_device(user)
    client = Client()
    client.force_login(user, verified=False)
    row = MATRIX[route]
    url = row.url(patient)
    response = getattr(client, row.method)(url)

    view_name = resolve(urlsplit(url).path).view_name
    if view_name in MFA_EXEMPT_VIEWS:
        _expect_for_exempt_view(view_name, response, has_device)
    else:
        assert redirect_target(response) == (VERIFY if has_device else ENROL, [url])


def test_the_walk_covers_the_admin_and_the_second_factor_pages():
    assert {"admin", "account_security", "mfa_backup_codes", "mfa_turn_off", "mfa_enrol", "mfa_verify"} <= set(MATRIX)


# --- the admin ------------------------------------------------------------------------------------


def test_the_admin_itself_refuses_an_unverified_manager(settings, manager):
    """Defence in depth: with the middleware taken out, the admin site still asks for the second factor."""
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if m != "accounts.middleware.RequireMFAMiddleware"]
    unverified = Client()
    unverified.force_login(manager, verified=False)
    assert unverified.get(reverse("admin:index")).status_code == 403
    verified = Client()
    verified.force_login(manager)
    assert verified.get(reverse("admin:index")).status_code == 200


def test_admin_permission_needs_a_verified_user(manager):
    request = RequestFactory().get("/admin/")
    request.user = manager
    site = PortalAdminSite()
    manager.is_verified = lambda: False
    assert not site.has_permission(request)
    manager.is_verified = lambda: True
    assert site.has_permission(request)


# --- a manager resets a device --------------------------------------------------------------------


def test_after_a_managers_reset_the_user_must_enrol_again(clinician, manager):
    client = Client()
    client.force_login(clinician, verified=False)
    enrol(client)
    assert client.get(reverse("patients:list")).status_code == 200

    request = RequestFactory().post("/accounts/manage/")
    request.user = manager
    removed = mfa.reset_devices(clinician, request=request)

    assert removed == 2  # the app and the backup codes
    assert not TOTPDevice.objects.filter(user=clinician).exists()
    assert not StaticDevice.objects.filter(user=clinician).exists()
    # The session verified with the old app no longer counts.
    assert redirect_target(client.get(reverse("patients:list")))[0] == ENROL
    fresh = Client()
    sign_in_with_password(fresh, "alice")
    assert redirect_target(fresh.get("/"))[0] == ENROL
    [event] = events(Action.MFA_RESET)
    assert (event.actor, event.object_type, event.object_id) == (manager, "accounts.user", str(clinician.pk))
    assert event.detail == {"user_id": clinician.pk, "devices_removed": 2}


# --- patients choose ------------------------------------------------------------------------------


def test_a_patient_without_a_second_factor_is_not_asked(client, patient_user, patient):
    sign_in_with_password(client, "charlie")
    assert client.get(reverse("portal:home")).status_code == 200
    assert redirect_target(client.get(VERIFY, {"next": "/portal/"})) == ("/portal/", None)


def test_a_patient_with_a_second_factor_must_verify(client, patient_user, patient):
    device = confirmed_device(patient_user)
    sign_in_with_password(client, "charlie")
    portal = reverse("portal:home")
    assert redirect_target(client.get(portal)) == (VERIFY, [portal])
    assert client.post(VERIFY, {"code": code_for(device), "next": portal})["Location"] == portal
    assert client.get(portal).status_code == 200


def test_a_patient_turns_the_second_factor_on_from_the_security_page(client, patient_user, patient):
    client.force_login(patient_user)
    page = client.get(SECURITY)
    assert page.context["status"].enrolled is False
    assert f'href="{ENROL}?next={SECURITY}"' in page.content.decode()
    done = enrol(client, next_url=SECURITY)
    assert f'href="{SECURITY}">Continue</a>' in done.content.decode()
    assert client.get(SECURITY).context["status"].enrolled is True
    assert patient_user.must_use_second_factor


def test_turning_it_off_takes_a_current_code(client, patient_user, patient):
    device = confirmed_device(patient_user)
    client.force_login(patient_user)

    for typed, message in [("", ANY_CODE_FORMAT), (wrong_code_for(device), mfa.WRONG_CODE_OR_BACKUP)]:
        let_the_throttle_pass(patient_user)
        refused = client.post(TURN_OFF, {"code": typed})
        assert refused.status_code == 200
        assert refused.context["turn_off_form"].errors["code"] == [message]
        assert TOTPDevice.objects.filter(user=patient_user).exists()

    let_the_throttle_pass(patient_user)
    response = client.post(TURN_OFF, {"code": code_for(device)})
    assert response["Location"] == SECURITY
    assert not TOTPDevice.objects.filter(user=patient_user).exists()
    assert not patient_user.must_use_second_factor
    fresh = Client()
    sign_in_with_password(fresh, "charlie")
    assert fresh.get(reverse("portal:home")).status_code == 200
    [event] = events(Action.MFA_RESET)
    assert event.actor == patient_user
    assert event.detail == {"user_id": patient_user.pk, "devices_removed": 1}


def test_staff_cannot_turn_the_second_factor_off(clinician_client, clinician):
    device = TOTPDevice.objects.get(user=clinician)
    response = clinician_client.post(TURN_OFF, {"code": code_for(device)})
    assert response.status_code == 403
    assert TOTPDevice.objects.filter(user=clinician).exists()


def test_backup_codes_need_a_second_factor_first(patient_client, patient_user):
    response = patient_client.post(BACKUP_CODES)
    assert response["Location"] == SECURITY
    assert not StaticDevice.objects.filter(user=patient_user).exists()


# --- the audit trail ------------------------------------------------------------------------------


def test_every_second_factor_action_is_audited_without_secrets(client, clinician, manager):
    client.force_login(clinician, verified=False)
    page = client.get(ENROL)
    secret = page.context["secret"]
    device = TOTPDevice.objects.get(user=clinician)
    wrong = wrong_code_for(device)
    client.post(ENROL, {"code": wrong})
    let_the_throttle_pass(clinician)
    codes = client.post(ENROL, {"code": code_for(device)}).context["codes"]
    totp_code = code_for(device, steps_ahead=1)  # the enrolment used this step's code

    other = Client()
    other.force_login(clinician, verified=False)
    other.post(VERIFY, {"code": totp_code})
    backup = Client()
    backup.force_login(clinician, verified=False)
    backup.post(VERIFY, {"code": codes[0]})
    new_codes = client.post(BACKUP_CODES).context["codes"]
    request = RequestFactory().post("/accounts/manage/")
    request.user = manager
    mfa.reset_devices(clinician, request=request)

    mfa_events = AuditEvent.objects.filter(action__startswith="mfa_").order_by("id")
    trail = [(e.action, e.actor, e.detail) for e in mfa_events]
    assert trail == [
        (Action.MFA_FAILED, clinician, {"stage": "enrol", "reason": "wrong_code"}),
        (Action.MFA_ENROLLED, clinician, {"method": "totp"}),
        (Action.MFA_BACKUP_CODES, clinician, {"count": 10}),
        (Action.MFA_VERIFIED, clinician, {"method": "totp"}),
        (Action.MFA_VERIFIED, clinician, {"method": "backup_code"}),
        (Action.MFA_BACKUP_CODES, clinician, {"count": 10}),
        (Action.MFA_RESET, manager, {"user_id": clinician.pk, "devices_removed": 2}),
    ]
    # Everything written, bar the hashes (64 hex digits could hold six decimal ones by chance).
    written = AuditEvent.objects.values("actor_username", "object_type", "object_id", "detail", "path")
    recorded = json.dumps(list(written)).lower()
    secrets = [secret.replace(" ", ""), device.key, wrong, totp_code, *codes, *new_codes]
    assert not [value for value in secrets if value.lower() in recorded]
