"""axe-core, run inside Chromium, on the main pages of every role at a desktop and a phone width: no page may
have a serious or critical finding (WCAG 2 A/AA rules and axe's best practices).

axe-core comes from the pinned axe-playwright-python package (it bundles axe.min.js). Playwright's evaluate
runs the script through the DevTools protocol, which the Content-Security-Policy does not govern, so the
product's policy stays as it is and the pages are scanned as they are served.

Staff are signed in with a test client's session (second factor included); each role keeps one browser
context for all its pages, and each page is loaded once and scanned at both widths."""

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Browser, BrowserContext, Page, expect

from accounts.models import Role, User
from outcomes.models import Moment
from patients.models import Patient
from scheduling.models import Appointment
from tests.browser.conftest import TIMEOUT_MS
from tests.browser.test_content_security_policy import signed_in_as
from tests.browser.test_registration_journey import watch_for_problems
from tests.factories import AssessmentFactory, CourseFactory, SessionFactory, UserFactory
from tests.outcomes.helpers import closed_course, end_request
from tests.portal.helpers import in_days, make_appointment, make_document
from tests.scheduling.factories import every_day
from tests.treatments.reported_rows import measure_request, patient_report
from treatments import services as treatment_services
from treatments.models import InjectionSession, TreatmentCourse

# A laptop screen and a phone held upright (CSS pixels).
VIEWPORTS = {"1366 px": {"width": 1366, "height": 768}, "390 px": {"width": 390, "height": 844}}
# axe's impact levels that fail the scan; "moderate" and "minor" ones are left to review, except the rules below.
FAILING_IMPACTS = {"serious", "critical"}
# Rules that fail the scan whatever impact axe gives them: an empty column header (axe calls it minor) leaves a
# screen reader naming that column of every row with nothing.
FAILING_RULES = {"empty-table-header"}
AXE = Axe()


@dataclass
class Record:
    """What the pages show: one patient with a course, sessions, an assessment, visits and a document."""

    patient: Patient
    course: TreatmentCourse
    signed: InjectionSession
    draft: InjectionSession
    assessment_pk: int
    appointment: Appointment
    staff: User
    question_pk: int  # end-of-course questions the patient may answer in the portal


@pytest.fixture
def record(reference_data, document_storage, clinician: User, patient: Patient) -> Record:
    patient.intake.allergy_amide_local_anaesthetic = True  # a precaution badge on the patient's pages
    patient.intake.save(update_fields=["allergy_amide_local_anaesthetic"])
    assessment = AssessmentFactory(patient=patient, clinician=clinician)
    course = CourseFactory(patient=patient, created_by=clinician)
    signed = treatment_services.session_sign(session=SessionFactory(course=course, sites=2), by=clinician)
    draft = SessionFactory(course=course, sites=1)
    # What the patient reported, and a question not sent, on the course page.
    patient_report(measure_request(course), nrs_now=3, nrs_average=4, peg_enjoyment=4, peg_activity=3, pgic=2)
    measure_request(course, Moment.AFTER_COURSE, days_after_course=91, not_sent_reason="No email address on file.")
    every_day(clinician)  # working hours, so the calendars show free times to book
    make_appointment(
        patient, timezone.localtime().replace(hour=10, minute=0, second=0, microsecond=0), clinician=clinician
    )
    tomorrow = make_appointment(patient, in_days(1), clinician=clinician)
    make_document(patient)
    staff = UserFactory(username="erin", first_name="Erin", last_name="Moss", role=Role.FRONT_DESK)
    question = end_request(closed_course(patient))
    return Record(patient, course, signed, draft, assessment.pk, tomorrow, staff, question.pk)


@pytest.fixture
def document_storage(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path)}},
    }


def clinician_pages(record: Record) -> list[str]:
    patient = record.patient.pk
    return [
        reverse("patients:list"),
        f"{reverse('patients:list')}?q={record.patient.family_name}",
        reverse("patients:detail", args=[patient]),
        reverse("treatments:course", args=[record.course.pk]),
        reverse("treatments:course_new", args=[patient]),
        reverse("treatments:session_edit", args=[record.draft.pk]),
        reverse("treatments:session_new", args=[record.course.pk]),
        reverse("treatments:session", args=[record.signed.pk]),
        reverse("assessments:new", args=[patient]),
        reverse("assessments:detail", args=[record.assessment_pk]),
        # Tomorrow's day, whose working hours are still free to book whatever the time now.
        f"{reverse('scheduling:day')}?date={timezone.localdate() + timedelta(days=1):%Y-%m-%d}",
        reverse("scheduling:week"),
        reverse("scheduling:recall"),
        f"{reverse('treatments:lot_recall')}?lot={record.signed.lot_number}",
        f"{reverse('treatments:lot_recall')}?lot=DX",
        reverse("treatments:course_close", args=[record.course.pk]),
    ]


def front_desk_pages(record: Record) -> list[str]:
    return [
        reverse("patients:register"),
        reverse("patients:detail", args=[record.patient.pk]),
        reverse("patients:edit", args=[record.patient.pk]),
        reverse("patients:intake", args=[record.patient.pk]),
        reverse("patients:consent", args=[record.patient.pk]),
        f"{reverse('scheduling:book')}?patient={record.patient.pk}",
        reverse("scheduling:appointment", args=[record.appointment.pk]),
        reverse("scheduling:day"),
        reverse("scheduling:day_sheet"),
        reverse("scheduling:slots"),
    ]


def manager_pages(record: Record) -> list[str]:
    return [
        reverse("audit:events"),
        reverse("audit:disclosures", args=[record.patient.pk]),
        reverse("patients:history", args=[record.patient.pk]),
        reverse("security_users"),
        reverse("security_user", args=[record.staff.pk]),
        reverse("audit:verify"),
        reverse("account_security"),
        reverse("password_change"),
        reverse("outcomes:report"),
    ]


def patient_pages(record: Record) -> list[str]:
    return [
        reverse("portal:home"),
        reverse("portal:documents"),
        reverse("portal:check_in", args=[record.appointment.pk]),
        reverse("portal:contact"),
        reverse("portal:measures", args=[record.question_pk]),
        # The patient has consented (their sessions needed it): the consent page, and withdrawing's confirmation.
        reverse("portal:consent"),
        reverse("portal:consent_withdraw_confirm"),
    ]


# One serious or critical finding: (rule, impact, what the rule asks, element, why it fails) -> where it was seen.
Findings = dict[tuple[str, str, str, str, str], list[str]]


def add_serious_findings(findings: Findings, page: Page, where: str) -> None:
    """Add each element that fails a serious or critical axe rule (or one of FAILING_RULES) on the page as it is now."""
    for violation in AXE.run(page).response["violations"]:
        if violation["impact"] not in FAILING_IMPACTS and violation["id"] not in FAILING_RULES:
            continue
        for node in violation["nodes"]:
            target = ", ".join(map(str, node["target"]))
            summary = " ".join(node.get("failureSummary", "").split())
            key = (violation["id"], violation["impact"], violation["help"], target, summary)
            findings.setdefault(key, []).append(where)


def scan(context: BrowserContext, urls: list[str], who: str, findings: Findings) -> list[str]:
    """Load each page once and scan it at every width; return the script errors and failed requests seen."""
    page = context.new_page()
    problems = watch_for_problems(page)
    for url in urls:
        page.set_viewport_size(VIEWPORTS["1366 px"])
        response = page.goto(url)
        assert response is not None and response.ok, f"{who} could not open {url}"
        expect(page.locator("h1").first).to_be_visible()
        for width, viewport in VIEWPORTS.items():
            page.set_viewport_size(viewport)
            add_serious_findings(findings, page, f"{who} {url} at {width}")
    scan_phone_menu(page, who, findings)
    page.close()
    return [f"{who}: {problem}" for problem in problems]


def scan_phone_menu(page: Page, who: str, findings: Findings) -> None:
    """At phone width the main menu folds behind its button, where the page scans do not see it: open it, scan."""
    toggler = page.get_by_role("button", name="Menu")
    if toggler.count() == 0:  # signed out: no menu to open
        return
    page.set_viewport_size(VIEWPORTS["390 px"])
    toggler.click()
    # Bootstrap gives the menu "collapse show" once its opening transition is over.
    expect(page.locator("#main-nav")).to_have_class(re.compile(r"\bcollapse show\b"))
    add_serious_findings(findings, page, f"{who} main menu opened at 390 px")


def report(findings: Findings) -> str:
    """The findings by rule, each failing element once with the pages it was seen on."""
    lines = []
    for (rule, impact, help_text, target, summary), seen in sorted(findings.items()):
        lines += [f"{rule} ({impact}): {help_text}", f"    element: {target}", f"    {summary}"]
        more = f" and {len(seen) - 3} more" if len(seen) > 3 else ""
        lines.append(f"    seen on: {'; '.join(seen[:3])}{more}")
    return "\n".join(lines)


def new_context(browser: Browser, base_url: str) -> BrowserContext:
    context = browser.new_context(base_url=base_url)
    context.set_default_timeout(TIMEOUT_MS)
    return context


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_main_pages_of_every_role_have_no_serious_accessibility_findings(
    browser: Browser, live_server, record: Record, clinician: User, front_desk: User, manager: User
):
    expect.set_options(timeout=TIMEOUT_MS)
    roles: list[tuple[str, User | None, Callable[[Record], list[str]]]] = [
        ("signed out", None, lambda record: [reverse("login"), reverse("password_reset")]),
        ("clinician", clinician, clinician_pages),
        ("front desk", front_desk, front_desk_pages),
        ("manager", manager, manager_pages),
        ("patient", record.patient.user, patient_pages),
    ]
    findings: Findings = {}
    problems: list[str] = []
    for who, user, pages in roles:
        context = new_context(browser, live_server.url)
        if user is not None:
            page = context.new_page()
            signed_in_as(page, user, live_server.url)
            page.close()
        problems += scan(context, pages(record), who, findings)
        context.close()

    if findings:
        pytest.fail(f"Serious or critical accessibility findings:\n{report(findings)}", pytrace=False)
    assert problems == []
