"""A patient, in a real browser on a phone-sized screen: signs in to the portal, signs the consent text with their
typed name, withdraws it and signs it again; then asks for a copy of their record, watches the page turn ready by
itself once the copy is built (here, in this process, as the worker would), and downloads the zip, which holds the
FHIR bundle, the visit's PDFs and the summary. Each state of the pages passes the axe scan."""

import zipfile

import pytest
from django.contrib.auth.models import Group
from fhir.resources.R4B.bundle import Bundle
from playwright.sync_api import Page, expect

from accounts.models import Role
from audit.models import Action, AuditEvent
from patients.models import PatientConsent
from portal.models import CopyStatus, RecordCopy
from portal.record_copy import services
from tests.browser.test_accessibility import VIEWPORTS, Findings, add_serious_findings, report
from tests.browser.test_registration_journey import sign_in, watch_for_problems
from tests.factories import PatientFactory, UserFactory
from tests.portal.record_copy_helpers import signed_visit

PHONE = VIEWPORTS["390 px"]


@pytest.fixture
def private_storage(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path)}},
    }


@pytest.fixture
def copies_sent(monkeypatch) -> list[int]:
    """The copies the page sends to the worker: none reaches a broker; the test builds them itself."""
    sent: list[int] = []
    monkeypatch.setattr(services, "_send", sent.append)
    return sent


@pytest.fixture
def patient_with_a_visit(private_storage):
    # The patient role's group is made again: a flush by an earlier transactional test removes it.
    Group.objects.get_or_create(name=Role.PATIENT.value)
    user = UserFactory(username="rosalind.p", role=Role.PATIENT)
    patient = PatientFactory(given_name="Rosalind", family_name="Pemberton", user=user)
    signed_visit(patient)  # consented at the desk for it; its PDFs rendered
    return patient


def fits_the_phone(page: Page) -> None:
    assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]


def sign_consent(page: Page, name: str) -> None:
    page.get_by_label("Type your full name to sign").fill(name)
    page.get_by_label("I have read and agree").check()
    page.get_by_role("button", name="Sign my consent").click()
    expect(page.get_by_text("Thank you. Your consent is recorded.")).to_be_visible()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_patient_signs_withdraws_and_resigns_consent_then_downloads_their_copy_on_a_phone(
    page: Page, live_server, patient_with_a_visit, password, copies_sent, tmp_path
):
    patient = patient_with_a_visit
    problems = watch_for_problems(page)
    findings: Findings = {}
    page.set_viewport_size(PHONE)
    sign_in(page, patient.user.username, password, start="/portal/")
    expect(page.get_by_role("heading", name="Hello, Rosalind")).to_be_visible()

    # Consent: the desk's consent from the visit is withdrawn first, so the patient signs their own.
    nav = page.get_by_role("navigation", name="Your portal")
    nav.get_by_role("link", name="Consent").click()
    page.get_by_role("link", name="Withdraw my consent").click()
    page.get_by_role("button", name="Yes, withdraw my consent").click()
    expect(page.get_by_text("Your consent is withdrawn.")).to_be_visible()
    expect(page.locator("#consent-withdrawn")).to_contain_text("You withdrew your consent on")
    add_serious_findings(findings, page, "consent withdrawn")
    fits_the_phone(page)

    sign_consent(page, "Rosalind Pemberton")
    expect(page.locator("#consent-valid")).to_be_visible()
    add_serious_findings(findings, page, "consent signed")
    page.get_by_role("link", name="Withdraw my consent").click()
    page.get_by_role("button", name="Yes, withdraw my consent").click()
    expect(page.locator("#consent-withdrawn")).to_be_visible()
    # A withdrawn consent may be signed again: a new consent, the withdrawn one kept as it was.
    sign_consent(page, "rosalind  pemberton")
    consents = list(PatientConsent.objects.filter(patient=patient).order_by("signed_at"))
    assert [(consent.signed_via, consent.withdrawn_at is None) for consent in consents] == [
        ("desk", False), ("portal", False), ("portal", True)
    ]  # fmt: skip

    # The copy: asked for from its tab, prepared in the background, ready without reloading.
    nav.get_by_role("link", name="My record").click()
    expect(page.get_by_role("heading", name="Get a copy of my record")).to_be_visible()
    add_serious_findings(findings, page, "copy page, nothing asked yet")
    fits_the_phone(page)
    page.get_by_role("button", name="Ask for a copy of my record").click()
    expect(page.get_by_text("We are preparing your copy.")).to_be_visible()
    status = page.locator("#record-copy-status")
    expect(status).to_have_attribute("data-status", "pending")
    add_serious_findings(findings, page, "copy being prepared")
    [copy] = RecordCopy.objects.filter(patient=patient)
    assert copies_sent == [copy.pk]

    assert services.copy_build(copy.pk)  # the worker's job, run here
    expect(status).to_have_attribute("data-status", "ready")
    expect(status).to_contain_text("You can download it until")
    add_serious_findings(findings, page, "copy ready")
    fits_the_phone(page)
    assert problems == []  # before the download, which Chromium reports as a request it aborted (a navigation)

    with page.expect_download() as download:
        status.get_by_role("link", name="Download my record").click()
    saved = tmp_path / "downloaded.zip"
    download.value.save_as(saved)
    assert download.value.suggested_filename.startswith("my-record-")
    with zipfile.ZipFile(saved) as package:
        names = package.namelist()
        bundle = Bundle.model_validate_json(package.read("record.fhir.json"))
        summary = package.read("summary.html").decode()
    assert len([name for name in names if name.endswith(".pdf")]) == 2
    assert any(entry.resource.__resource_type__ == "Procedure" for entry in bundle.entry)
    assert "Rosalind Pemberton" in summary and "by you in the portal" in summary
    assert AuditEvent.objects.filter(action=Action.EXPORT, patient=patient, actor=patient.user).count() == 1
    copy.refresh_from_db()
    assert (copy.status, copy.download_count) == (CopyStatus.READY, 1)

    if findings:
        pytest.fail(f"Serious or critical accessibility findings:\n{report(findings)}", pytrace=False)
