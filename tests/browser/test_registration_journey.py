"""Front desk, in a real browser: sign in for the first time (setting up the second factor on the way),
register a patient, take the medical background and consent, then find the patient again by a misspelt surname."""

import re
from decimal import Decimal
from urllib.parse import quote

import pytest
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import ConsoleMessage, Page, Response, expect

from accounts import mfa
from accounts.models import User
from patients.models import Patient, PatientConsent
from tests.accounts.mfa_helpers import code_for, code_for_secret
from tests.factories import ConsentTextFactory

# A fixed place to look at the patient page after a run; overwritten each time, never read back.
SCREENSHOT = "/tmp/browser-patient.png"  # noqa: S108
# Bootstrap 5.3's --bs-danger, and the main menu's bar from portal.css (a shade darker than Bootstrap's primary
# blue, for contrast), as computed styles report them.
BOOTSTRAP_DANGER = "rgb(220, 53, 69)"
MAIN_MENU_BLUE = "rgb(10, 88, 202)"


def watch_for_problems(page: Page) -> list[str]:
    """Script errors, console errors and failed requests seen on the page, filled in as they happen."""
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            problems.append(f"console error at {message.location['url']}: {message.text}")

    def on_response(response: Response) -> None:
        if response.status >= 400:
            problems.append(f"HTTP {response.status} for {response.url}")

    page.on("console", on_console)
    page.on("response", on_response)
    page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
    page.on("requestfailed", lambda request: problems.append(f"request failed: {request.url}"))
    return problems


def sign_in(page: Page, username: str, password: str, *, device: TOTPDevice | None = None, start: str = "/") -> None:
    """Open `start`, sign in through the real form and, for a user with a confirmed `device` (staff must have
    one), type the code an authenticator app would show now. django-otp takes each code once: do not sign
    one user in twice within 30 seconds."""
    page.goto(start)
    expect(page).to_have_url(re.compile(rf"/accounts/login/\?next={re.escape(start)}$"))
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    if device is not None:
        expect(page.get_by_role("heading", name="Enter your code")).to_be_visible()
        page.get_by_label("Code").fill(code_for(device))
        page.get_by_role("button", name="Verify").click()


def enrol_authenticator_app(page: Page) -> list[str]:
    """On the first sign-in's set-up page: read the key shown, type the code for it, and continue past the
    backup codes (returned) to the page first asked for."""
    expect(page.get_by_role("heading", name="Set up your second factor")).to_be_visible()
    qr_code = page.get_by_role("img", name=re.compile("QR code"))
    expect(qr_code).to_be_visible()
    assert qr_code.evaluate("image => image.naturalWidth") > 0  # the data: image was allowed and decoded
    secret = page.locator("#totp-secret").inner_text()
    page.get_by_label("Code").fill(code_for_secret(secret))
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("heading", name="Your backup codes")).to_be_visible()
    codes = page.locator("#backup-codes li").all_inner_texts()
    page.get_by_role("link", name="Continue").click()
    return codes


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_front_desk_registers_patient_and_finds_them_by_misspelt_surname(
    page: Page, front_desk: User, password: str, other_patient: Patient
):
    # Publish a consent version of our own, so the test does not depend on data-migration
    # rows (which a flush by an earlier transactional test would have removed).
    consent_text = ConsentTextFactory()
    problems = watch_for_problems(page)

    # Sign in through the real form, asking first for the registration page; the stylesheet must be served
    # by the live server. A first sign-in sets up the second factor, then goes on to the page asked for.
    register_url = reverse("patients:register")
    with page.expect_response(re.compile(r"/static/vendor/bootstrap-[\d.]+\.min\.css$")) as stylesheet:
        sign_in(page, front_desk.username, password, start=register_url)
    assert stylesheet.value.status == 200
    expect(page).to_have_url(re.compile(rf"/accounts/mfa/enrol/\?next={re.escape(quote(register_url, safe=''))}$"))
    backup_codes = enrol_authenticator_app(page)
    assert len(backup_codes) == 10

    # Register the patient.
    expect(page).to_have_url(re.compile(rf"{re.escape(register_url)}$"))
    expect(page.get_by_role("heading", name="Register a patient")).to_be_visible()
    navigation = page.get_by_role("navigation", name="Main")
    expect(navigation).to_have_css("background-color", MAIN_MENU_BLUE)
    page.get_by_label("Given name").fill("Eleanor")
    page.get_by_label("Family name").fill("Whitcombe")
    page.get_by_label("Date of birth").fill("1958-03-14")
    page.get_by_label("Sex").select_option(label="Female")
    page.get_by_label("Phone", exact=True).fill("07911 123456")
    page.get_by_label("Email", exact=True).fill("eleanor.whitcombe@example.org")
    page.get_by_role("button", name="Register and continue to medical background").click()

    expect(page.get_by_role("alert")).to_have_text(re.compile(r"^Eleanor Whitcombe registered as PIT-\d{6}\.$"))
    expect(page.get_by_role("heading", name="Medical background: Eleanor Whitcombe")).to_be_visible()

    # Medical background: one precaution flag and one medication row.
    page.get_by_label("Allergic to amide local anaesthetics").check()
    first_row = page.locator("#medications tbody tr").first
    first_row.get_by_label("Drug").fill("Ibuprofen")
    first_row.get_by_role("textbox", name="Dose").fill("400 mg")  # "Doses per week" is a spinbutton
    first_row.get_by_label("Doses per week").fill("14")
    first_row.get_by_label("Pain medication").check()
    page.get_by_role("button", name="Save medical background").click()

    # With no consent yet, saving leads straight on to consent.
    expect(page.get_by_role("alert")).to_have_text("Medical background saved.")
    expect(page.get_by_role("heading", name="Consent: Eleanor Whitcombe")).to_be_visible()
    expect(page.get_by_text(f"(version {consent_text.version})")).to_be_visible()
    page.get_by_label("The patient has read the text above").check()
    page.get_by_label("Patient's full name, typed by the patient as signature").fill("Eleanor Whitcombe")
    page.get_by_role("button", name="Record consent").click()

    # The patient page shows what the clinician will rely on.
    expect(page.get_by_role("alert")).to_have_text(f"Consent to version {consent_text.version} recorded.")
    expect(page.get_by_role("heading", name="Eleanor Whitcombe", level=1)).to_be_visible()
    flag = page.locator("#precautions .badge")
    expect(flag).to_have_text(["Local anaesthetic allergy"])
    expect(flag).to_have_css("background-color", BOOTSTRAP_DANGER)
    expect(flag).to_have_css("font-size", "13.6px")  # .badge-flag from portal.css: 0.85rem
    expect(page.locator("#consent-status .badge")).to_have_text("Valid consent")
    medication = page.get_by_role("row", name=re.compile(r"^Ibuprofen"))
    expect(medication).to_contain_text("pain")
    expect(medication).to_contain_text("400 mg")
    expect(medication).to_contain_text("14")
    page.screenshot(path=SCREENSHOT, full_page=True)
    patient_url = page.url

    # Find her again from the patient list by a misspelt surname (live search).
    navigation.get_by_role("link", name="Patients").click()
    expect(page.get_by_role("heading", name="Patients")).to_be_visible()
    results = page.locator("#patient-results tbody tr")
    expect(results).to_have_count(2)  # both patients listed before searching
    page.get_by_role("searchbox", name="Search patients").fill("Witcombe")
    expect(results).to_have_count(1)
    expect(page).to_have_url(re.compile(r"/patients/\?q=Witcombe$"))
    found = results.first
    expect(found).to_contain_text("Valid")
    expect(found).to_contain_text("Local anaesthetic allergy")
    found.get_by_role("link", name="Whitcombe, Eleanor").click()
    expect(page).to_have_url(patient_url)
    expect(page.get_by_role("heading", name="Eleanor Whitcombe", level=1)).to_be_visible()
    patient = Patient.objects.get(family_name="Whitcombe")
    assert page.url.endswith(f"/patients/{patient.pk}/")
    # Back returns to the whole search page, not the bare results fragment htmx fetched.
    page.go_back()
    expect(page.get_by_role("heading", name="Patients")).to_be_visible()
    expect(results).to_have_count(1)

    assert problems == []

    # What was stored.
    assert TOTPDevice.objects.get(user=front_desk).confirmed
    assert mfa.backup_codes_left(front_desk) == 10
    assert (patient.given_name, patient.date_of_birth.isoformat(), patient.phone.as_e164) == (
        "Eleanor",
        "1958-03-14",
        "+447911123456",
    )
    assert patient.created_by == front_desk
    assert patient.intake.allergy_amide_local_anaesthetic
    assert patient.intake.precaution_flags() == [("Local anaesthetic allergy", "danger")]
    assert patient.intake.updated_by == front_desk
    assert list(patient.intake.medications.values_list("drug", "dose", "doses_per_week", "is_analgesic")) == [
        ("Ibuprofen", "400 mg", Decimal("14.0"), True)
    ]
    consent = PatientConsent.objects.get(patient=patient)
    assert consent.consent_text == consent_text
    assert consent.signed_name == "Eleanor Whitcombe"
    assert consent.witnessed_by == front_desk
    assert consent.withdrawn_at is None
