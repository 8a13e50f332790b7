"""A patient, in a real browser: opens the emailed invitation, sets a password, lands in the portal signed in,
checks in for tomorrow's visit and downloads their aftercare sheet."""

import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from playwright.sync_api import Page, expect

from accounts.models import Role, User
from documents.models import DocumentDownload
from portal.models import CheckIn, PatientInvite
from tests.browser.test_registration_journey import watch_for_problems
from tests.factories import PatientFactory
from tests.portal.helpers import in_days, make_appointment, make_document, make_invite

TOKEN = "browser-journey-token"
PASSWORD = "harbour-lantern-91"
SCREENSHOT = "/tmp/browser-portal-check-in.png"  # noqa: S108 (a place to look after a run)
SCALES = {
    "How bad is your pain right now?": "6",
    "What number best describes your pain on average in the past week?": "7",
    "In the past week, how much has pain interfered with your enjoyment of life?": "4",
    "In the past week, how much has pain interfered with your general activity?": "5",
}


@pytest.fixture
def document_storage(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path)}},
    }


@pytest.fixture
def invited(document_storage):
    """A patient with tomorrow's appointment, an aftercare sheet from their last visit and an unused invitation.

    The patient role's group is made again: a flush by an earlier transactional test removes it."""
    Group.objects.get_or_create(name=Role.PATIENT.value)
    patient = PatientFactory(given_name="Eleanor", family_name="Whitcombe", email="eleanor@example.org")
    appointment = make_appointment(patient, in_days(1))
    document = make_document(patient)
    make_invite(patient, TOKEN)
    return patient, appointment, document


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_patient_accepts_invitation_checks_in_and_downloads_aftercare(page: Page, invited):
    patient, appointment, document = invited
    problems = watch_for_problems(page)

    # The link from the email: choose a username and password.
    page.goto(f"/portal/invite/{TOKEN}/")
    expect(page.get_by_role("heading", name="Welcome, Eleanor")).to_be_visible()
    page.get_by_label("Choose a username").fill("eleanor.w")
    page.get_by_label("Choose a password").fill(PASSWORD)
    page.get_by_label("Type the password again").fill(PASSWORD)
    page.get_by_role("button", name="Create my account").click()

    # Signed in, in the portal, with tomorrow's appointment waiting for a check-in.
    expect(page).to_have_url(re.compile(r"/portal/$"))
    expect(page.get_by_role("alert")).to_have_text("Welcome! Your account is ready.")
    expect(page.get_by_role("heading", name="Hello, Eleanor")).to_be_visible()
    page.get_by_role("link", name="Check in for this visit").click()

    # The check-in: four 0-10 scales, a number, five yes/no questions, what is new, and a note.
    expect(page.get_by_role("heading", name="Check in for your visit")).to_be_visible()
    for question, answer in SCALES.items():
        page.get_by_role("group", name=question).get_by_text(answer, exact=True).click()
    page.get_by_label("How many doses of pain medication").fill("10.5")
    page.get_by_role("group", name="Do you have an infection").get_by_text("No", exact=True).click()
    page.get_by_role("group", name="Have you started any new medication").get_by_text("Yes", exact=True).click()
    page.get_by_label("If so, which medication").fill("Amitriptyline 10 mg at night")
    page.get_by_role("group", name="Have you started a blood thinner").get_by_text("No", exact=True).click()
    page.get_by_role("group", name="allergic to something").get_by_text("No", exact=True).click()
    page.get_by_role("group", name="Are you pregnant").get_by_text("No", exact=True).click()
    page.get_by_label("Anything else you would like your clinician to know?").fill("Started amitriptyline.")
    page.screenshot(path=SCREENSHOT, full_page=True)
    page.get_by_role("button", name="Send my answers").click()
    expect(page.get_by_role("alert")).to_contain_text("Thank you.")
    expect(page.get_by_text("Check-in done")).to_be_visible()

    # The aftercare sheet, as a real PDF download.
    page.get_by_role("navigation", name="Your portal").get_by_role("link", name="Documents").click()
    expect(page.get_by_role("heading", name="Your documents")).to_be_visible()
    with page.expect_download() as download_info:
        page.get_by_role("link", name=re.compile(r"^Download")).click()
    download = download_info.value
    assert download.suggested_filename.endswith(".pdf")
    assert Path(download.path()).read_bytes().startswith(b"%PDF")

    assert problems == []

    # What was stored.
    user = User.objects.get(username="eleanor.w")
    patient.refresh_from_db()
    assert patient.user == user and user.has_role(Role.PATIENT)
    assert PatientInvite.objects.get(patient=patient).used_at is not None
    check_in = CheckIn.objects.get(appointment=appointment)
    assert (check_in.nrs_now, check_in.peg_pain, check_in.peg_enjoyment, check_in.peg_activity) == (6, 7, 4, 5)
    assert check_in.analgesic_doses_per_week == Decimal("10.5")
    assert (check_in.new_infection, check_in.new_medication) == (False, True)
    assert check_in.new_medication_details == "Amitriptyline 10 mg at night"
    assert not (check_in.new_blood_thinner or check_in.new_allergy or check_in.pregnant)
    assert DocumentDownload.objects.get(document=document).user == user
