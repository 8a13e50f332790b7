"""The idle warning in a real browser, with the limits shortened: the warning appears, "Stay signed in"
keeps the session past its first limit, and a page left alone lands on the sign-in page."""

import re
import time

import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import Page, expect

from accounts.models import User
from audit.models import Action, AuditEvent
from tests.browser.test_registration_journey import sign_in, watch_for_problems

IDLE_SECONDS = 10
WARNING_SECONDS = 6
WARNING = re.compile(r"You will be signed out in \d+ seconds for your privacy\.")
# Long enough for a whole idle period (the page goes to sign-in 2 s after the limit) plus some slack.
PATIENCE_MS = (IDLE_SECONDS + 5) * 1000


@pytest.fixture
def short_limits(settings) -> None:
    # The live server runs in this process, so it sees these too.
    settings.SESSION_IDLE_TIMEOUT_STAFF = IDLE_SECONDS
    settings.SESSION_IDLE_WARNING = WARNING_SECONDS


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_idle_warning_stay_signed_in_and_sign_out(page: Page, short_limits, clinician: User, password: str):
    device = TOTPDevice.objects.create(user=clinician, name="Authenticator app", confirmed=True)
    problems = watch_for_problems(page)
    sign_in(page, "alice", password, device=device)
    expect(page.get_by_role("heading", name=re.compile("Alice"))).to_be_visible()
    signed_in_at = time.monotonic()

    # The warning comes before the limit, and "Stay signed in" asks the server for more time.
    warning = page.locator("#session-timeout-warning")
    expect(warning).to_have_text(WARNING, timeout=PATIENCE_MS)
    expect(warning).to_have_attribute("role", "alert")
    with page.expect_response(re.compile(r"/accounts/session/keepalive/$")) as keepalive:
        warning.get_by_role("button", name="Stay signed in").click()
    assert keepalive.value.status == 204
    expect(warning).to_be_hidden()

    # Past the first limit (and the page's margin), the session is still there.
    page.wait_for_timeout(max(IDLE_SECONDS + 2.5 - (time.monotonic() - signed_in_at), 0) * 1000)
    expect(page).to_have_url(re.compile(r"/$"))
    page.reload()
    expect(page.get_by_role("heading", name=re.compile("Alice"))).to_be_visible()
    assert not AuditEvent.objects.filter(action=Action.SESSION_EXPIRED).exists()

    # Left alone, the page warns again and then goes to the sign-in page, which says why.
    expect(warning).to_be_visible(timeout=PATIENCE_MS)
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=(/|%2F)$"), timeout=PATIENCE_MS)
    expect(page.get_by_role("alert")).to_contain_text("signed out after a period without activity")
    expect(page.get_by_label("Username")).to_be_visible()
    assert AuditEvent.objects.get(action=Action.SESSION_EXPIRED).detail == {"reason": "idle"}
    assert problems == []


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_an_htmx_request_counts_as_activity_for_the_warning(page: Page, settings, clinician: User, password: str):
    settings.SESSION_IDLE_TIMEOUT_STAFF = idle = 12
    settings.SESSION_IDLE_WARNING = warning_lead = 4
    device = TOTPDevice.objects.create(user=clinician, name="Authenticator app", confirmed=True)
    sign_in(page, "alice", password, device=device, start="/patients/")
    expect(page.get_by_role("heading", name="Patients")).to_be_visible()
    loaded = time.monotonic()

    # Left alone, the warning would show by `idle - warning_lead` seconds after the page loaded.
    page.wait_for_timeout(2000)
    with page.expect_response(lambda response: response.request.headers.get("hx-request") == "true") as search:
        page.get_by_label("Search patients").fill("Whit")
    assert search.value.status == 200
    searched = time.monotonic()

    warning = page.locator("#session-timeout-warning")
    page.wait_for_timeout((loaded + idle - warning_lead + 1 - time.monotonic()) * 1000)
    expect(warning).to_be_hidden()
    expect(warning).to_have_text(WARNING, timeout=PATIENCE_MS)
    assert time.monotonic() - searched >= idle - warning_lead - 1
