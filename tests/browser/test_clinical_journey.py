"""Clinician, in a real browser: a first assessment with the body map, a course started from it, session 1
recorded with three injection sites and signed, and the course page's pain chart and progress."""

import re
from datetime import timedelta
from decimal import Decimal
from importlib import import_module
from pathlib import Path

import pytest
from django.apps import apps as django_apps
from django.utils import timezone
from playwright.sync_api import Locator, Page, expect

from accounts.models import User
from assessments.bodymap import INTENSITY_COLOURS, UNMARKED_COLOUR
from assessments.models import Assessment
from patients.models import ConsentText
from tests.accounts.mfa_helpers import confirmed_device
from tests.browser.test_registration_journey import sign_in, watch_for_problems
from tests.factories import ConsentTextFactory, PatientFactory, consent_for
from treatments.models import InjectionSession, TreatmentCourse
from treatments.services import session_digest

# Regions clicked on the figures, by their data-region code: (label in the list, intensity, tender).
PAIN_AREAS = {
    "F-THIGH-L": ("Front of thigh, left", 5, False),
    "B-LOW-BACK-L": ("Low back, left", 7, True),  # on the back figure
    "B-LOW-BACK-R": ("Low back, right", 4, False),
}
NRS_NOW, NRS_WORST, NRS_AVERAGE = 9, 10, 8
PEG = {"peg_pain": NRS_AVERAGE, "peg_enjoyment": 6, "peg_activity": 5}
DN4_PRESENT = [
    "Pain has a burning quality",
    "Tingling in the painful area",
    "Pins and needles",
    "Brushing the skin causes or increases pain",
]
CONTRIBUTING_NERVE = "Superior cluneal nerves"
PRE_NRS, POST_NRS = 7, 2
LOT_NUMBER = "DX-4471"
# (nerve, side, points, mL per point) for each site row, in the order they are filled in.
SITES = [
    ("Superior cluneal nerves", "Left", 6, Decimal("0.5")),
    ("Dorsal rami, cutaneous branches", "Left", 4, Decimal("0.3")),
    ("Lateral femoral cutaneous nerve", "Left", 5, Decimal("0.45")),
]
# [width, whether the element (or a descendant) is what a click at its centre would hit]
SEEN_AT_CENTRE = """element => {
    const box = element.getBoundingClientRect();
    const hit = document.elementFromPoint(box.x + box.width / 2, box.y + box.height / 2);
    return [box.width, hit !== null && element.contains(hit)];
}"""
# Data migrations that load reference rows: conditions with consent text version 1, and nerves.
REFERENCE_DATA_MIGRATIONS = [
    "patients.migrations.0002_reference_data",
    "assessments.migrations.0003_nerve_reference_data",
]


def restore_reference_data() -> None:
    """Put back the conditions, consent text and nerves the data migrations load.

    A transactional test ends by flushing every table, so when another one ran earlier these rows are gone
    (groups and permissions come back by themselves: flush emits post_migrate). Running the migrations' own
    load functions restores exactly what a migrated database holds, and they use get_or_create, so it is a
    no-op when the rows are still there. `serialized_rollback=True` would restore them as well, but its
    teardown flushes with post_migrate inhibited, leaving the next transactional test without the role groups
    it needs, and it serialises the whole database at setup for every run that includes this test.
    """
    for module in REFERENCE_DATA_MIGRATIONS:
        import_module(module).load(django_apps, None)


def note_unless_seen(problems: list[str], locator: Locator, what: str, *, min_width: float = 1) -> None:
    """Record a problem unless the element is on screen where a person can see and use it.

    Playwright fills and clicks elements no person could: clipped away by a zero-width overflow container,
    or squeezed to a sliver. So, scrolled into view, the element must be at least `min_width` pixels wide
    and be what the page shows at its own centre.
    """
    locator.scroll_into_view_if_needed()
    width, shown = locator.evaluate(SEEN_AT_CENTRE)
    if width < min_width or not shown:
        problems.append(f"{what} is not usable on screen: {width:.0f}px wide, {'' if shown else 'not '}shown")


def _rgb(hex_colour: str) -> str:
    """A #rrggbb colour as computed styles report it."""
    red, green, blue = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgb({red}, {green}, {blue})"


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_clinician_assesses_starts_course_records_and_signs_session(
    page: Page, clinician: User, password: str, tmp_path: Path
):
    restore_reference_data()
    if ConsentText.objects.current() is None:  # not reached while the data migration publishes version 1
        ConsentTextFactory()
    patient = PatientFactory(given_name="Margaret", family_name="Olsen")
    consent_for(patient)
    problems = watch_for_problems(page)

    # Sign in through the real form and open the patient page from the patient list.
    sign_in(page, clinician.username, password, device=confirmed_device(clinician))
    expect(page.get_by_role("heading", name="Good to see you, Alice")).to_be_visible()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Patients").click()
    page.get_by_role("link", name="Olsen, Margaret").click()
    expect(page.get_by_role("heading", name="Margaret Olsen", level=1)).to_be_visible()
    expect(page.locator("#consent-status .badge")).to_have_text("Valid consent")
    expect(page.locator("#assessments")).to_contain_text("No assessments yet.")

    # First assessment: history, scores and the DN4 screen. It was taken at last week's consultation: had it
    # been the same day as session 1, the chart would put B and S1 at one x and leave out the S1 label.
    page.get_by_role("link", name="New assessment").click()
    expect(page.get_by_role("heading", name="First assessment: Margaret Olsen")).to_be_visible()
    assessed_at = (timezone.localtime() - timedelta(days=7)).replace(hour=10, minute=30, second=0, microsecond=0)
    page.get_by_label("Assessed at").fill(assessed_at.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("Condition").select_option(label="Low back pain")
    page.get_by_role("group", name="History").get_by_label("Side").select_option(label="Left")
    page.get_by_label("Duration (months)").fill("18")
    page.get_by_label("Presenting complaint").fill(
        "Burning low back pain on the left, spreading to the front of the thigh."
    )
    page.get_by_label("Aggravating factors").fill("Sitting for long, getting out of the car.")
    page.get_by_label("Pain now (0-10)").fill(str(NRS_NOW))
    page.get_by_label("Worst pain, last week (0-10)").fill(str(NRS_WORST))
    # Average pain is asked once: it is also the PEG's first item.
    page.get_by_label("Average pain, last week (0-10)").fill(str(NRS_AVERAGE))
    page.get_by_label("Pain interfered with enjoyment of life (0-10)").fill(str(PEG["peg_enjoyment"]))
    page.get_by_label("Pain interfered with general activity (0-10)").fill(str(PEG["peg_activity"]))
    for item in DN4_PRESENT:
        page.get_by_label(item).check()

    # Pain areas: click the regions on the figures; each click reveals that region's row in the list.
    body_map = page.locator("#body-map")
    expect(body_map.locator("[data-bodymap]")).to_have_attribute("data-bodymap-ready", "")
    for title in ("Front", "Back"):
        figure = body_map.get_by_role("group", name=f"{title} of body: press a region to mark it", exact=True)
        note_unless_seen(problems, figure, f"The {title.lower()} body map figure", min_width=150)
    for code, (label, intensity, tender) in PAIN_AREAS.items():
        region = body_map.locator(f"svg [data-region='{code}']")
        expect(region).to_have_attribute("aria-pressed", "false")
        region.click()
        expect(region).to_have_attribute("aria-pressed", "true")
        row = body_map.locator(f"[data-region-row='{code}']")
        expect(row).to_be_visible()
        expect(row.get_by_label(label, exact=True)).to_be_checked()
        intensity_box = row.get_by_label(f"Intensity from 0 to 10, {label}")
        expect(intensity_box).to_be_focused()  # clicking a region puts the cursor in its intensity box
        intensity_box.fill(str(intensity))
        expect(region).to_have_css("fill", _rgb(INTENSITY_COLOURS[intensity]))
        if tender:
            row.get_by_label(f"Tender point found, {label}").check()
    expect(body_map.locator("[data-bodymap-count]")).to_have_text(f"{len(PAIN_AREAS)} areas marked")
    expect(body_map.locator("[data-region-row]:visible")).to_have_count(len(PAIN_AREAS))

    nerves = page.get_by_role("group", name="Nerves judged to contribute")
    nerves.get_by_label("Nerve").first.select_option(label=CONTRIBUTING_NERVE)
    nerves.get_by_label("Side").first.select_option(label="Left")
    page.get_by_label("Proposed sessions").fill("6")
    page.get_by_role("group", name="Plan").get_by_label("Interval (days)").fill("7")
    page.screenshot(path=tmp_path / "assessment-form.png", full_page=True)
    page.get_by_role("button", name="Save assessment").click()

    # The assessment page: computed scores and the read-only body map with the marked regions shaded.
    expect(page.get_by_role("alert")).to_have_text("First assessment saved.")
    expect(page.get_by_role("heading", name=f"First assessment, {assessed_at:%d/%m/%Y %H:%M}")).to_be_visible()
    expected_peg = f"{sum(PEG.values()) / 3:.1f}"
    expect(page.locator("#peg-score")).to_have_text(expected_peg)
    expect(page.locator("#dn4-score")).to_have_text(f"{len(DN4_PRESENT)}/10 neuropathic pain likely")  # 4 or more
    expect(page.locator("#scores")).to_contain_text(f"{NRS_NOW} / {NRS_WORST} / {NRS_AVERAGE}")
    picture = page.locator(".bodymap-view svg")
    expect(picture).to_have_attribute("aria-label", f"Body map: {len(PAIN_AREAS)} pain areas marked, listed below.")
    for code, (label, intensity, tender) in PAIN_AREAS.items():
        expect(picture.locator(f"path[data-region='{code}']")).to_have_attribute("fill", INTENSITY_COLOURS[intensity])
        details = f"{intensity}/10, tender" if tender else f"{intensity}/10"
        expect(page.locator(".bodymap-view-list li", has_text=label)).to_have_text(f"{label}: {details}")
    expect(picture.locator("path[data-region='F-THIGH-R']")).to_have_attribute("fill", UNMARKED_COLOUR)
    tender_count = sum(tender for _, _, tender in PAIN_AREAS.values())
    expect(picture.locator("circle[r='4.6']")).to_have_count(tender_count + 1)  # one more in the legend
    expect(page.get_by_role("listitem").filter(has_text=f"{CONTRIBUTING_NERVE} (left)")).to_be_visible()
    page.screenshot(path=tmp_path / "assessment.png", full_page=True)

    # Start a course from it: the form is pre-filled from the assessment's plan.
    page.get_by_role("link", name="Start a course from this assessment").click()
    expect(page.get_by_role("heading", name="Start a treatment course: Margaret Olsen")).to_be_visible()
    expect(page.get_by_text(f"(pain now {NRS_NOW}/10)")).to_be_visible()
    expect(page.get_by_label("Condition")).to_have_value(str(Assessment.objects.get().condition_id))
    expect(page.get_by_label("Planned sessions")).to_have_value("6")
    expect(page.get_by_label("Interval (days)")).to_have_value("7")
    page.get_by_label("Started on").fill(timezone.localdate().isoformat())
    page.get_by_role("button", name="Start course").click()
    expect(page.get_by_role("alert")).to_have_text("Course started.")
    expect(page.get_by_role("heading", name="Low back pain", level=1)).to_be_visible()
    expect(page.locator("#sessions")).to_contain_text("No sessions yet.")
    course_url = page.url

    # Session 1: scores, lot, consent, and three sites, two of them added by htmx without reloading.
    page.get_by_role("link", name="Record session 1").click()
    expect(page.get_by_role("heading", name="New session for Margaret Olsen")).to_be_visible()
    page.get_by_label("Pain before injection (0-10)").fill(str(PRE_NRS))
    page.get_by_label("Pain after injection (0-10)").fill(str(POST_NRS))
    page.get_by_label("I have confirmed the patient's consent").check()
    page.get_by_label("Product lot").fill(LOT_NUMBER)
    page.get_by_label("Lot expiry").fill((timezone.localdate() + timedelta(days=200)).isoformat())
    site_rows = page.locator("#sites tbody tr[data-site-row]")
    expect(site_rows).to_have_count(1)
    page.evaluate("window.journeyMarker = 'same page'")
    for count in (2, 3):
        with page.expect_response(re.compile(r"/sessions/site-row/\?sites-TOTAL_FORMS=\d+$")) as added:
            page.get_by_role("button", name="Add a site").click()
        assert added.value.status == 200
        expect(site_rows).to_have_count(count)
        expect(page.locator("#id_sites-TOTAL_FORMS")).to_have_value(str(count))
    assert page.evaluate("window.journeyMarker") == "same page"  # no navigation: the rows came by htmx
    for number, (row, (nerve, side, points, volume)) in enumerate(zip(site_rows.all(), SITES, strict=True), 1):
        row.get_by_label("Nerve").select_option(label=nerve)
        row.get_by_label("Side").select_option(label=side)
        row.get_by_label("Injection points").fill(str(points))
        row.get_by_label("per point").fill(str(volume))
        note_unless_seen(problems, row.get_by_label("Nerve"), f"The nerve list of site row {number}")
    total_volume = sum(points * volume for _, _, points, volume in SITES)
    expect(page.locator("#total-volume")).to_have_text(f"{total_volume:.2f}")
    page.screenshot(path=tmp_path / "session-form.png", full_page=True)
    page.get_by_role("button", name="Save draft").click()

    # The draft: total volume and sites as saved; sign it.
    expect(page.get_by_role("alert")).to_have_text("Draft of session 1 saved. Check it, then sign.")
    expect(page.get_by_role("heading", name="Session 1 of 6")).to_be_visible()
    expect(page.locator("#signature .badge")).to_have_text("Draft")
    expect(page.locator("#nrs")).to_have_text(f"{PRE_NRS} → {POST_NRS} (71% better)")  # (7 - 2) / 7 = 71.4%
    expect(page.locator("#nrs [data-direction='better']")).to_be_visible()
    expect(page.locator("#total-volume")).to_have_text(f"{total_volume:.2f} mL")
    saved_rows = page.locator("#site-table tbody tr")
    expect(saved_rows).to_have_count(len(SITES))
    for row, (nerve, side, points, volume) in zip(saved_rows.all(), SITES, strict=True):
        expect(row.locator("td")).to_have_text([nerve, side, str(points), f"{volume:.2f}", f"{points * volume:.2f}"])
    page.get_by_role("button", name="Sign", exact=True).click()

    expect(page.get_by_role("alert")).to_have_text("Session 1 signed.")
    expect(page.locator("#signature .badge")).to_have_text("Signed")
    session = InjectionSession.objects.get()
    expect(page.locator("#signature code")).to_have_text(f"{session.content_sha256[:16]}…")
    expect(page.locator("#signature")).to_contain_text("by Alice Carter")
    expect(page.get_by_role("link", name="Edit draft")).to_have_count(0)
    expect(page.get_by_role("button", name="Sign", exact=True)).to_have_count(0)
    page.screenshot(path=tmp_path / "session.png", full_page=True)

    # The course page: pain chart with the session on it, and the change from baseline.
    page.get_by_role("link", name="Low back pain course").click()
    expect(page).to_have_url(course_url)
    chart = page.locator("#pain-chart svg")
    expect(chart).to_be_visible()
    expect(chart.locator("[data-role='point-labels'] text")).to_have_text(["B", "S1"])
    expect(chart.locator("[data-series='before'] circle")).to_have_count(2)  # baseline and session 1
    expect(chart.locator("[data-series='after'] rect")).to_have_count(1)
    # From 9 at the first assessment to 7 before session 1: (9 - 7) / 9 = 22.2%, short of the 30% responder mark.
    summary = page.locator("#progress-summary")
    expect(summary.locator("dd")).to_have_text([str(NRS_NOW), str(PRE_NRS), "22% better", "not yet"])
    expect(page.locator("#sessions tbody tr")).to_have_count(1)
    expect(page.locator("#sessions tbody tr .badge")).to_have_text("Signed")
    page.screenshot(path=tmp_path / "course.png", full_page=True)

    # What was stored.
    assessment = Assessment.objects.get()
    assert assessment.patient == patient
    assert assessment.clinician == clinician
    assert assessment.kind == "initial"
    assert (assessment.nrs_current, assessment.peg_pain, assessment.peg_enjoyment, assessment.peg_activity) == (
        NRS_NOW,
        PEG["peg_pain"],
        PEG["peg_enjoyment"],
        PEG["peg_activity"],
    )
    assert assessment.dn4_score == len(DN4_PRESENT)
    assert sorted(assessment.pain_areas.values_list("region", "intensity", "tender")) == sorted(
        (code, intensity, tender) for code, (_, intensity, tender) in PAIN_AREAS.items()
    )
    assert list(assessment.nerves.values_list("nerve__name", "side")) == [(CONTRIBUTING_NERVE, "left")]
    course = TreatmentCourse.objects.get()
    assert course.patient == patient
    assert course.baseline_assessment == assessment
    assert assessment.course == course
    session.refresh_from_db()
    assert session.course == course
    assert session.number == 1
    assert session.is_signed
    assert session.signed_by == clinician
    assert (session.pre_nrs, session.post_nrs, session.lot_number) == (PRE_NRS, POST_NRS, LOT_NUMBER)
    assert list(session.sites.values_list("nerve__name", "side", "points", "volume_per_point_ml")) == [
        (nerve, side.lower(), points, volume) for nerve, side, points, volume in SITES
    ]
    assert session.total_volume_ml == total_volume
    assert session.content_sha256 == session_digest(session)

    # Last, so that the stored record is checked even when the pages had problems.
    assert not problems, "\n".join(problems)
