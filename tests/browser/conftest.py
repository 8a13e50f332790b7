"""Headless Chromium for the browser tests: one browser per session, a fresh context and page per test.

The browser is Debian's chromium (`make chromium` installs it); Playwright's own browser
downloads are not used.
"""

import os
from collections.abc import Iterator

import pytest
from django.db import connections
from playwright.sync_api import Browser, Page, expect, sync_playwright

# Playwright's sync API runs an asyncio event loop in the main thread for as long as it is
# started. Django's async_unsafe guard sees that running loop and raises
# SynchronousOnlyOperation whenever the test itself touches the database (fixtures,
# factories, the final assertions), although the code is plain synchronous code and no
# coroutine shares the connection. This tells Django to allow it.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
# Every page here is served by a local thread; waiting longer only delays a failure.
TIMEOUT_MS = 5_000


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package (`make chromium`).")
    # While Playwright's loop runs, asgiref keeps Django's connections in another context; close the
    # ones opened before and during, or the test database cannot be dropped at the end of the run.
    connections.close_all()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
        # The connections the tests opened while the loop ran are reachable only from inside it.
        connections.close_all()
    connections.close_all()


@pytest.fixture
def page(browser: Browser, live_server, reference_data) -> Iterator[Page]:
    """A page in a new context (no cookies shared between tests), with relative URLs on the live server."""
    context = browser.new_context(base_url=live_server.url)
    context.set_default_timeout(TIMEOUT_MS)
    expect.set_options(timeout=TIMEOUT_MS)
    page = context.new_page()
    yield page
    context.close()
