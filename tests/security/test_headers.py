"""Security headers, cookies and the Content-Security-Policy on real responses, and a scan of every template
for the markup that policy would refuse (inline script, event attributes, javascript: URLs, hx-on) or that
skips escaping."""

import re
import runpy
from http.cookies import Morsel
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings
from django.test import override_settings
from django.urls import reverse

from tests.factories import PASSWORD

SETTINGS_FILE = Path(settings.BASE_DIR) / "pit_portal" / "settings.py"


def policy_of(response) -> dict[str, list[str]]:
    """The Content-Security-Policy header as {directive: [sources]}."""
    header = response.headers.get("Content-Security-Policy")
    assert header, "no Content-Security-Policy header"
    directives = {}
    for part in header.split(";"):
        name, *sources = part.split()
        directives[name] = sources
    return directives


def production_settings(monkeypatch) -> dict:
    """settings.py evaluated as production would (DEBUG off, SECURE on), without touching this process's settings."""
    monkeypatch.setenv("DEBUG", "0")
    monkeypatch.setenv("SECURE", "1")
    monkeypatch.delenv("SECURE_SSL_REDIRECT", raising=False)
    monkeypatch.setenv("SECRET_KEY", "production-like-" + "k" * 40)
    monkeypatch.setenv("ALLOWED_HOSTS", "portal.example.org")
    return runpy.run_path(str(SETTINGS_FILE))


@pytest.fixture
def staff_page(clinician_client):
    return clinician_client.get(reverse("patients:list"))


@pytest.fixture
def login_page(client):
    return client.get(reverse("login"))


@pytest.fixture(params=["staff_page", "login_page"])
def page(request):
    response = request.getfixturevalue(request.param)
    assert response.status_code == 200
    return response


# --- Content-Security-Policy ----------------------------------------------------------------------------


def test_scripts_come_only_from_our_own_origin(page):
    policy = policy_of(page)
    assert policy["script-src"] == ["'self'"]
    assert policy["default-src"] == ["'self'"]
    # No directive that governs scripts (or falls back for them) lets inline code or eval through.
    for directive in ("default-src", "script-src", "script-src-elem", "script-src-attr"):
        sources = policy.get(directive, [])
        assert "'unsafe-inline'" not in sources, directive
        assert "'unsafe-eval'" not in sources, directive
        assert "data:" not in sources, directive


def test_stylesheets_come_only_from_our_own_origin(page):
    policy = policy_of(page)
    assert policy["style-src"] == ["'self'"]
    assert policy["style-src-elem"] == ["'self'"]


def test_no_framing_plugins_or_base_rewriting(page):
    policy = policy_of(page)
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"]
    assert policy["form-action"] == ["'self'"]


# --- other headers --------------------------------------------------------------------------------------


def test_hardening_headers(page):
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["Referrer-Policy"] == "same-origin"
    assert page.headers["Cross-Origin-Opener-Policy"] == "same-origin"


def test_a_refusal_carries_the_headers_too(front_desk_client):
    """A 403 is a page like any other: the policy must not depend on the view succeeding."""
    response = front_desk_client.get(reverse("admin:index"))
    assert response.status_code in (302, 403)
    assert policy_of(response)["script-src"] == ["'self'"]
    assert response.headers["X-Frame-Options"] == "DENY"


def test_production_settings_turn_on_https_hsts_and_secure_cookies(monkeypatch):
    production = production_settings(monkeypatch)
    assert production["SECURE_SSL_REDIRECT"] is True
    assert production["SECURE_HSTS_SECONDS"] >= 31536000
    assert production["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True
    assert production["SESSION_COOKIE_SECURE"] is True
    assert production["CSRF_COOKIE_SECURE"] is True


def test_with_secure_settings_plain_http_is_redirected_to_https(monkeypatch, client, db):
    production = production_settings(monkeypatch)
    with override_settings(SECURE_SSL_REDIRECT=production["SECURE_SSL_REDIRECT"]):
        response = client.get(reverse("login"))
    assert response.status_code == 301
    assert response["Location"] == "https://testserver" + reverse("login")


def test_with_secure_settings_https_responses_carry_hsts(monkeypatch, client, db):
    production = production_settings(monkeypatch)
    names = ("SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS", "SECURE_HSTS_PRELOAD")
    secure = {name: production[name] for name in names}
    with override_settings(**secure):
        response = client.get(reverse("login"), secure=True)
    assert response.status_code == 200
    hsts = response.headers["Strict-Transport-Security"]
    assert f"max-age={production['SECURE_HSTS_SECONDS']}" in hsts
    assert "includeSubDomains" in hsts


# --- cookies ----------------------------------------------------------------------------------------------


def cookies_set_by_signing_in(client) -> dict[str, Morsel]:
    """The session and CSRF cookies exactly as the responses set them: the login form sets the CSRF cookie,
    signing in sets the session cookie."""
    form = client.get(reverse("login"), secure=True)
    csrf = form.cookies[settings.CSRF_COOKIE_NAME]
    signed_in = client.post(reverse("login"), {"username": "charlie", "password": PASSWORD}, secure=True)
    assert signed_in.status_code == 302, "signing in through the form failed"
    return {"csrf": csrf, "session": signed_in.cookies[settings.SESSION_COOKIE_NAME]}


@pytest.mark.parametrize("kind", ["csrf", "session"])
def test_cookies_are_http_only_and_same_site(client, patient_user, kind):
    cookie = cookies_set_by_signing_in(client)[kind]
    assert cookie["httponly"] is True
    assert cookie["samesite"] in ("Lax", "Strict")


@pytest.mark.parametrize("kind", ["csrf", "session"])
def test_with_secure_settings_cookies_are_secure(monkeypatch, client, patient_user, kind):
    production = production_settings(monkeypatch)
    secure = {name: production[name] for name in ("SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE")}
    with override_settings(**secure):
        cookie = cookies_set_by_signing_in(client)[kind]
    assert cookie["secure"] is True
    assert cookie["httponly"] is True


# --- template scan ----------------------------------------------------------------------------------------

# Plain-text emails are not HTML: escaping would put "&amp;" into the message. Nothing else may switch it off.
PLAIN_TEXT_EMAILS = {"templates/registration/password_reset_email.html"}
# Pages written into a file the patient keeps (the summary in their copy of the record), never served by the portal:
# opened from their own disk, where the site's stylesheets cannot be reached, so their style is inline. No script.
OFFLINE_PAGES = {"portal/templates/portal/record_copy/summary.html"}
INLINE_STYLE = "inline <style> (put it in static/css/)"
# The modules allowed to mark markup safe; see the comment at each mark_safe call. Markup is built in templates.
MARK_SAFE_ALLOWED: set[str] = set()

REFUSED_MARKUP = {
    "inline <script> (give it a src in static/js/)": re.compile(r"<script\b(?![^>]*\bsrc\s*=)[^>]*>", re.I),
    INLINE_STYLE: re.compile(r"<style\b", re.I),
    "event handler attribute (bind it in static/js/)": re.compile(r"<[a-z][^>]*\son[a-z]+\s*=", re.I),
    "javascript: URL": re.compile(r"javascript\s*:", re.I),
    "hx-on attribute (htmx evaluates it as code)": re.compile(r"\bhx-on\b|\bhx-on[:-]", re.I),
    "hx-vars or js: value (htmx evaluates it as code)": re.compile(
        r"\bhx-vars\b|\bhx-(vals|headers)\s*=\s*['\"]\s*js:", re.I
    ),
    "|safe or |safeseq": re.compile(r"\|\s*safe(seq)?\b"),
}
AUTOESCAPE_OFF = re.compile(r"\{%\s*autoescape\s+off\s*%\}", re.I)


def project_app_folders() -> list[Path]:
    """Our own apps' folders (installed packages live under BASE_DIR too, in .venv)."""
    return [Path(app.path) for app in apps.get_app_configs() if "site-packages" not in Path(app.path).parts]


def project_template_files() -> list[Path]:
    """Every template this project ships: the shared templates/ folder and each of our apps' templates folders."""
    folders = [Path(folder) for template in settings.TEMPLATES for folder in template["DIRS"]]
    folders += [folder / "templates" for folder in project_app_folders()]
    files = {path for folder in folders if folder.is_dir() for path in folder.rglob("*") if path.is_file()}
    return sorted(files)


def template_offences(relative: str, text: str) -> list[str]:
    refused = {
        what: pattern
        for what, pattern in REFUSED_MARKUP.items()
        if not (what == INLINE_STYLE and relative in OFFLINE_PAGES)
    }
    found = [f"{relative}: {what}" for what, pattern in refused.items() if pattern.search(text)]
    plain_text_email = relative.endswith(".txt") or relative in PLAIN_TEXT_EMAILS
    if AUTOESCAPE_OFF.search(text) and not plain_text_email:
        found.append(f"{relative}: autoescape off outside a plain-text email")
    return found


def test_the_scan_sees_the_templates():
    names = {path.name for path in project_template_files()}
    assert {"base.html", "day_sheet.html", "login.html", "patient_list.html"} <= names
    assert "week_all_table.html" in names


def test_no_template_has_inline_code_or_unescaped_output():
    base = Path(settings.BASE_DIR)
    offences = [
        offence
        for path in project_template_files()
        for offence in template_offences(str(path.relative_to(base)), path.read_text())
    ]
    assert offences == []


@pytest.mark.parametrize(
    "markup",
    [
        "<script>alert(1)</script>",
        '<script type="module">import "x"</script>',
        "<style>body { color: red }</style>",
        '<button type="button" onclick="window.print()">Print</button>',
        '<body\n  onload="go()">',
        '<a href="javascript:void(0)">x</a>',
        '<button hx-on:click="go()">x</button>',
        '<button hx-on::after-request="go()">x</button>',
        '<div hx-vars="a:1">',
        "<div hx-vals='js:{a: 1}'>",
        "{{ note|safe }}",
        "{{ notes|safeseq }}",
        "{% autoescape off %}{{ note }}{% endautoescape %}",
    ],
)
def test_the_scan_catches_each_refused_pattern(markup):
    assert template_offences("patients/templates/patients/example.html", markup)


@pytest.mark.parametrize(
    "markup",
    [
        "<script src=\"{% static 'js/print.js' %}\" defer></script>",
        '<button type="button" data-print>Print</button>',
        "<p>Call us on 01234 if the swelling is worse; only=once</p>",
        '<div hx-get="/x" hx-trigger="every 2s" hx-swap="outerHTML" style="--top: 3">',
        '<body hx-headers=\'{"X-CSRFToken": "{{ csrf_token }}"}\'>',
    ],
)
def test_the_scan_lets_ordinary_markup_through(markup):
    assert template_offences("patients/templates/patients/example.html", markup) == []


def test_autoescape_off_is_allowed_in_plain_text_emails_only():
    markup = "{% autoescape off %}Dear {{ name }},{% endautoescape %}"
    assert template_offences("scheduling/templates/scheduling/email/reminder_body.txt", markup) == []
    assert template_offences("templates/registration/password_reset_email.html", markup) == []
    assert template_offences("templates/registration/password_reset_form.html", markup)


def test_mark_safe_only_where_markup_is_built_safely_by_construction():
    base = Path(settings.BASE_DIR)
    modules = {
        str(path.relative_to(base)): path
        for package in [*project_app_folders(), base / "pit_portal"]
        for path in package.rglob("*.py")
    }
    assert "treatments/charts.py" in modules  # the scan reaches the apps' modules
    users = {name for name, path in modules.items() if "mark_safe(" in path.read_text()}
    assert users <= MARK_SAFE_ALLOWED, sorted(users)
