"""The Content-Security-Policy in a real browser: the pages that run script (htmx, Bootstrap, our own files) work
under it and nothing on them is refused. Chromium reports every refusal as a console error, which
watch_for_problems collects.

Staff sign in with a session made by the test client, so these pages are checked whatever the sign-in flow
asks for on the way."""

import re

import pytest
from django.test import Client
from django.urls import reverse
from playwright.sync_api import Page, expect

from accounts.models import User
from patients.models import Patient
from tests.browser.test_registration_journey import watch_for_problems
from tests.factories import CourseFactory, SessionFactory
from treatments import services as treatment_services

# window.print() opens a dialog; counting the calls shows the Print button is wired without one.
COUNT_PRINT_CALLS = "window.printCalls = 0; window.print = () => { window.printCalls += 1; };"


def signed_in_as(page: Page, user: User, base_url: str) -> None:
    """Give the browser the session cookie of a test client signed in as `user` (second factor included)."""
    client = Client()
    client.force_login(user)
    cookie = client.cookies["sessionid"]
    page.context.add_cookies([{"name": "sessionid", "value": cookie.value, "url": base_url}])


def assert_htmx_runs_without_inline_style_or_eval(page: Page) -> None:
    config = page.evaluate("() => [htmx.config.includeIndicatorStyles, htmx.config.allowEval]")
    assert config == [False, False]
    # htmx would have put its indicator rules into a <style> here; the policy would refuse it.
    assert page.locator("head style").count() == 0


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_sign_in_page_has_no_refused_content(page: Page):
    problems = watch_for_problems(page)
    page.goto(reverse("login"))
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    assert_htmx_runs_without_inline_style_or_eval(page)
    assert problems == []


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_staff_pages_work_under_the_policy(page: Page, live_server, clinician: User, patient: Patient):
    course = CourseFactory(patient=patient, created_by=clinician)
    signed = treatment_services.session_sign(session=SessionFactory(course=course, sites=2), by=clinician)
    draft = SessionFactory(course=course, sites=1)
    problems = watch_for_problems(page)
    page.add_init_script(COUNT_PRINT_CALLS)
    signed_in_as(page, clinician, live_server.url)

    # Patient search: htmx swaps the results in as you type.
    page.goto(reverse("patients:list"))
    assert_htmx_runs_without_inline_style_or_eval(page)
    page.get_by_label("Search patients").fill(patient.family_name)
    expect(page).to_have_url(re.compile(rf"\?q={patient.family_name}"))
    expect(page.locator("#patient-results")).to_contain_text(patient.given_name)

    # The navigation's dropdown (Bootstrap) opens.
    page.get_by_role("button", name=clinician.get_full_name() or clinician.username).click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()

    # The session form adds a site row through htmx (an out-of-band swap updates the row count).
    page.goto(reverse("treatments:session_edit", args=[draft.pk]))
    rows = page.locator("#sites tbody tr")
    before = rows.count()
    page.get_by_role("button", name="Add a site").click()
    expect(rows).to_have_count(before + 1)

    # Pages with the pain chart, the document status box (htmx polling) and the calendar scripts.
    for url in (
        reverse("patients:detail", args=[patient.pk]),
        reverse("treatments:course", args=[course.pk]),
        reverse("treatments:session", args=[signed.pk]),
        reverse("scheduling:day"),
    ):
        page.goto(url)
        expect(page.get_by_role("heading", level=1).first).to_be_visible()

    # The day sheet's Print button is bound by static/js/print.js, not an onclick attribute.
    page.goto(reverse("scheduling:day_sheet"))
    page.get_by_role("button", name="Print").click()
    assert page.evaluate("() => window.printCalls") == 1

    assert problems == []


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_administration_site_works_under_the_policy(page: Page, live_server, manager: User):
    manager.is_staff = True
    manager.save(update_fields=["is_staff"])
    problems = watch_for_problems(page)
    signed_in_as(page, manager, live_server.url)
    page.goto(reverse("admin:index"))
    expect(page.get_by_role("heading", level=1).first).to_be_visible()
    page.goto(reverse("admin:accounts_user_changelist"))
    expect(page.locator("#result_list")).to_be_visible()
    # Django's admin templates name no icon, so Chromium asks for /favicon.ico; that 404 is not about the policy.
    assert [problem for problem in problems if "/favicon.ico" not in problem] == []
