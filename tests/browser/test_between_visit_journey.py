"""A patient without a portal account answers the emailed between-visit questions on a phone, and the clinician
sees the answer on the course page, marked as the patient's."""

import re

import pytest
from django.core import mail
from django.urls import reverse
from playwright.sync_api import Page, expect

from outcomes.services import request_send
from tests.browser.test_accessibility import VIEWPORTS, Findings, add_serious_findings, report
from tests.browser.test_content_security_policy import signed_in_as
from tests.browser.test_registration_journey import watch_for_problems
from tests.factories import PatientFactory
from tests.outcomes.helpers import closed_course, end_request

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LINK = re.compile(r"https?://\S+?(/measures/\S+/)")


def answer_scale(page: Page, question: str, score: int) -> None:
    page.get_by_role("group", name=question).get_by_text(str(score), exact=True).click()


def test_patient_answers_by_link_on_a_phone_and_the_clinician_sees_it(page: Page, live_server, clinician):
    course = closed_course(PatientFactory(given_name="Ruth", email="ruth@example.org"), pre_nrs=8)
    assert request_send(end_request(course).pk)
    [path] = LINK.findall(mail.outbox[-1].body)
    problems = watch_for_problems(page)

    page.set_viewport_size(VIEWPORTS["390 px"])
    page.goto(path)
    expect(page.get_by_role("heading", name="A few questions about your pain")).to_be_visible()
    findings: Findings = {}
    add_serious_findings(findings, page, "between-visit form at 390 px")
    assert not findings, report(findings)
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 390, f"the form is {width} px wide on a 390 px screen"

    page.get_by_role("button", name="Send my answers").click()  # nothing chosen yet
    expect(page.get_by_role("alert")).to_contain_text("need another look")
    answer_scale(page, "How bad is your pain right now?", 3)
    answer_scale(page, "What number best describes your pain on average in the past week?", 4)
    answer_scale(page, "In the past week, how much has pain interfered with your enjoyment of life?", 2)
    answer_scale(page, "In the past week, how much has pain interfered with your general activity?", 5)
    page.get_by_label("Much improved", exact=True).check()
    question = "Since your last injection, have you had a reaction you think it caused?"
    page.get_by_role("group", name=question).get_by_text("No", exact=True).click()
    page.get_by_role("button", name="Send my answers").click()
    expect(page.get_by_role("heading", name="Thank you")).to_be_visible()
    page.goto(path)
    expect(page.locator("#closed-reason")).to_have_text("This form has already been answered. Thank you.")

    signed_in_as(page, clinician, live_server.url)
    page.set_viewport_size(VIEWPORTS["1366 px"])
    page.goto(reverse("treatments:course", args=[course.pk]))
    expect(page.get_by_role("heading", name="Reported by the patient")).to_be_visible()
    reports = page.locator("#patient-reports")
    expect(reports).to_contain_text("At the end of a course")
    expect(reports.locator("tbody tr").first.locator("td").nth(2)).to_have_text("3")  # pain now
    expect(reports).to_contain_text("Much improved")
    # The refused first try (400) and the used link (410) are answers this test asked for; nothing else failed.
    assert [problem for problem in problems if path not in problem] == []
