"""A patient, in a real browser on a phone-sized screen: signs the consent text in the portal (after a name that is
not the one on their record is refused), then withdraws it; each state of the page passes the axe scan."""

import pytest
from django.contrib.auth.models import Group
from playwright.sync_api import Page, expect

from accounts.models import Role
from patients.models import PatientConsent
from tests.browser.test_accessibility import VIEWPORTS, Findings, add_serious_findings, report
from tests.browser.test_content_security_policy import signed_in_as
from tests.browser.test_registration_journey import watch_for_problems
from tests.factories import PatientFactory, UserFactory


@pytest.fixture
def patient_without_consent():
    # The patient role's group is made again: a flush by an earlier transactional test removes it.
    Group.objects.get_or_create(name=Role.PATIENT.value)
    user = UserFactory(username="eleanor.w", role=Role.PATIENT)
    return PatientFactory(given_name="Eleanor", family_name="Whitcombe", user=user)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_patient_signs_then_withdraws_consent_on_a_phone(page: Page, live_server, patient_without_consent):
    patient = patient_without_consent
    problems = watch_for_problems(page)
    findings: Findings = {}
    page.set_viewport_size(VIEWPORTS["390 px"])
    signed_in_as(page, patient.user, live_server.url)

    page.goto("/portal/")
    page.get_by_role("navigation", name="Your portal").get_by_role("link", name="Consent").click()
    expect(page.get_by_role("heading", name="Your consent to treatment")).to_be_visible()
    add_serious_findings(findings, page, "consent form")

    # Someone else's name is refused next to the field, and nothing is saved.
    page.get_by_label("Type your full name to sign").fill("Eleanor Smith")
    page.get_by_label("I have read and agree").check()
    page.get_by_role("button", name="Sign my consent").click()
    expect(page.get_by_text("The name must match the name on your record: Eleanor Whitcombe.")).to_be_visible()
    add_serious_findings(findings, page, "consent form with an error")
    assert not PatientConsent.objects.filter(patient=patient).exists()

    page.get_by_label("Type your full name to sign").fill("eleanor whitcombe")
    page.get_by_label("I have read and agree").check()
    page.get_by_role("button", name="Sign my consent").click()
    expect(page.get_by_text("Thank you. Your consent is recorded.")).to_be_visible()
    add_serious_findings(findings, page, "consent signed")
    [consent] = PatientConsent.objects.filter(patient=patient)
    assert (consent.signed_via, consent.signed_by_user_id, consent.withdrawn_at) == ("portal", patient.user.pk, None)

    # Withdrawing asks first.
    page.get_by_role("link", name="Withdraw my consent").click()
    expect(page.get_by_role("heading", name="Withdraw your consent?")).to_be_visible()
    add_serious_findings(findings, page, "withdrawal confirmation")
    page.get_by_role("button", name="Yes, withdraw my consent").click()
    expect(page.get_by_text("Your consent is withdrawn.")).to_be_visible()
    add_serious_findings(findings, page, "consent withdrawn")
    consent.refresh_from_db()
    assert consent.withdrawn_at is not None and consent.withdrawn_via == "portal"
    # Nothing is wider than the phone's screen.
    assert page.evaluate("() => document.documentElement.scrollWidth") <= VIEWPORTS["390 px"]["width"]

    if findings:
        pytest.fail(f"Serious or critical accessibility findings:\n{report(findings)}", pytrace=False)
    # The refused name is answered 400 on purpose (the browser logs that as a console error too); nothing else.
    refused = f"{live_server.url}/portal/consent/"
    assert [problem for problem in problems if refused not in problem] == []
    assert f"HTTP 400 for {refused}" in problems
