"""Front desk, in a real browser: a follow-up booked from the day calendar, a clash refused with the nearest
free times offered, one of them booked with a click, and the patient marked arrived from the calendar."""

import re
from datetime import date, time, timedelta
from importlib import import_module
from pathlib import Path

import pytest
from django.apps import apps as django_apps
from django.utils import timezone
from playwright.sync_api import Page, expect

from accounts.models import User
from scheduling.models import Appointment, AppointmentStatus, AppointmentType, WorkingHours
from scheduling.services import appointment_book
from tests.accounts.mfa_helpers import confirmed_device
from tests.browser.test_clinical_journey import note_unless_seen
from tests.browser.test_registration_journey import sign_in, watch_for_problems
from tests.factories import CourseFactory, PatientFactory
from tests.scheduling.factories import at
from tests.scheduling.followup_helpers import signed_session
from treatments.models import CourseStatus

# Data migrations that load reference rows: conditions with consent text version 1, and appointment types.
REFERENCE_DATA_MIGRATIONS = [
    "patients.migrations.0002_reference_data",
    "scheduling.migrations.0002_appointment_types",
]
# What covers the element's centre (its outer HTML, shortened), or null when the element itself is shown there.
COVERED_AT_CENTRE = """element => {
    const box = element.getBoundingClientRect();
    const hit = document.elementFromPoint(box.x + box.width / 2, box.y + box.height / 2);
    if (hit !== null && element.contains(hit)) return null;
    return hit === null ? "nothing (off screen)" : hit.outerHTML.slice(0, 120);
}"""
IN_VIEWPORT = """element => {
    const box = element.getBoundingClientRect();
    return box.bottom > 0 && box.top < innerHeight;
}"""
DAYS_AHEAD = 3
CLINICIAN_NAME = "Alice Carter"


def restore_reference_data() -> None:
    """Put back the rows a transactional test's flush removed (see test_clinical_journey.restore_reference_data);
    the migrations' load functions use get_or_create, so this is a no-op on a freshly migrated database."""
    for module in REFERENCE_DATA_MIGRATIONS:
        import_module(module).load(django_apps, None)


def weekday_ahead(days: int) -> date:
    """The first Monday-to-Friday date at least `days` days from today."""
    day = timezone.localdate() + timedelta(days=days)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def slot_label(day: date, clock: str) -> str:
    """The accessible name of a free calendar cell, as calendar_grid.html writes it."""
    return f"Book {CLINICIAN_NAME}, {day:%a} {day.day} {day:%b} at {clock}"


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_front_desk_books_follow_up_from_calendar_sees_clash_refused_and_marks_arrival(
    page: Page, front_desk: User, clinician: User, password: str, tmp_path: Path
):
    restore_reference_data()
    pit_session = AppointmentType.objects.get(code="pit-session")
    day = weekday_ahead(DAYS_AHEAD)
    WorkingHours.objects.bulk_create(
        WorkingHours(clinician=clinician, weekday=weekday, starts=time(8), ends=time(18)) for weekday in range(5)
    )
    # The follow-up patient: an active course with session 1 signed a week ago.
    margaret = PatientFactory(given_name="Margaret", family_name="Olsen")
    course = CourseFactory(patient=margaret, created_by=clinician)
    assert course.status == CourseStatus.ACTIVE
    signed_session(course, timezone.now() - timedelta(days=7), number=1)
    # Another patient already holds 10:00 to 10:20 with the same clinician.
    dana = PatientFactory(given_name="Dana", family_name="Whitfield")
    existing = appointment_book(
        patient=dana, clinician=clinician, appointment_type=pit_session, starts_at=at(day, 10), by=front_desk
    )
    # Every response must be below 400. The booking form answers the refused clash with 200 (the form again,
    # with the refusal and the nearest free times), so no 409 needs to be let through.
    problems = watch_for_problems(page)

    # Sign in through the real form, open the calendar from the navigation, then pick the date and clinician:
    # each control applies itself on change (calendar.js), so there is no Go button to press.
    sign_in(page, front_desk.username, password, device=confirmed_device(front_desk))
    expect(page.get_by_role("heading", name="Good to see you, Bob")).to_be_visible()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Calendar").click()
    expect(page.locator("#calendar-grid")).to_be_visible()
    page.get_by_label("Date", exact=True).fill(day.isoformat())
    expect(page).to_have_url(re.compile(rf"/calendar/day/\?date={day.isoformat()}"))
    page.get_by_label("Clinician", exact=True).select_option(label=CLINICIAN_NAME)
    expect(page).to_have_url(re.compile(rf"/calendar/day/\?date={day.isoformat()}&clinician={clinician.pk}$"))
    toolbar = page.locator("#calendar-toolbar")
    expect(toolbar.get_by_role("heading", level=1)).to_contain_text(f"{day:%A} {day.day} {day:%B %Y}")
    expect(toolbar.get_by_role("heading", level=1)).to_contain_text(CLINICIAN_NAME)

    # The existing appointment is on the grid at 10:00, and 10:00 is not offered as a free time.
    existing_block = page.locator(f"#appointment-{existing.pk}")
    expect(existing_block).to_be_visible()
    expect(existing_block.locator(".appt-time")).to_have_text("10:00")
    expect(existing_block.locator(".appt-name")).to_have_text("Dana Whitfield")
    expect(existing_block.locator(".st")).to_have_text("Booked")
    expect(page.get_by_role("link", name=slot_label(day, "10:00"), exact=True)).to_have_count(0)

    # Book from the free 09:45 cell just before it; the time is kept while the patient is found.
    free_cell = page.get_by_role("link", name=slot_label(day, "09:45"), exact=True)
    free_cell.hover()
    expect(free_cell).to_have_text("+ 09:45")
    free_cell.click()
    expect(page.get_by_role("heading", name="Book an appointment")).to_be_visible()
    expect(page.locator("#slot-summary")).to_have_text(f"{CLINICIAN_NAME}, {day:%a %d %b} at 09:45")
    page.get_by_label("Search patients").fill("Olsen")
    page.locator("#patient-choices").get_by_role("link", name=re.compile(r"^Olsen, Margaret")).click()
    chosen = page.locator("#chosen-patient")
    expect(chosen.get_by_role("link", name="Margaret Olsen")).to_be_visible()
    expect(page.get_by_label("Clinician")).to_have_value(str(clinician.pk))
    expect(page.get_by_label("Date and time")).to_have_value(f"{day.isoformat()}T09:45")

    # A PIT session for the course, at 10:00: on top of Dana Whitfield's appointment.
    page.get_by_label("Appointment type").select_option(label=str(pit_session))
    course_label = f"{course.condition}, started {course.started_on:%d/%m/%Y}"
    page.get_by_label("Treatment course").select_option(label=course_label)
    page.get_by_label("Date and time").fill(f"{day.isoformat()}T10:00")
    with page.expect_response(lambda r: r.request.method == "POST" and "/appointments/book/" in r.url) as refusal:
        page.get_by_role("button", name="Book appointment").click()
    assert refusal.value.status == 200

    # Refused, with the nearest free times as one-click buttons, and nothing saved.
    expect(page.locator("#booking-form")).to_contain_text("This clinician is already booked at that time.")
    alternatives = page.locator("#alternatives")
    expect(alternatives).to_contain_text("Nearest free times")
    offered = alternatives.get_by_role("button")
    expect(offered).to_have_text(
        [f"{day:%a %d %b}, {clock} with {CLINICIAN_NAME}" for clock in ("09:35", "09:40", "10:20")]
    )
    assert list(Appointment.objects.values_list("pk", flat=True)) == [existing.pk]
    # The refusal keeps everything as entered, so the chosen button books exactly that.
    expect(page.get_by_label("Treatment course")).to_have_value(str(course.pk))
    expect(page.get_by_label("Appointment type")).to_have_value(str(pit_session.pk))
    page.screenshot(path=tmp_path / "clash-refused.png", full_page=True)

    alternatives.get_by_role("button", name=re.compile(r", 10:20 with ")).click()
    expect(page.get_by_role("alert")).to_have_text(
        f"Margaret Olsen booked with {CLINICIAN_NAME} on {day:%a %d %b} at 10:20."
    )
    booked = Appointment.objects.get(patient=margaret)
    assert (booked.clinician, booked.appointment_type, booked.course) == (clinician, pit_session, course)
    assert (booked.starts_at, booked.ends_at) == (at(day, 10, 20), at(day, 10, 40))
    assert booked.status == AppointmentStatus.BOOKED
    assert booked.created_by == front_desk

    # Back on the day calendar, the new block sits at 10:20, right under the existing one.
    expect(page).to_have_url(re.compile(rf"/calendar/day/\?date={day.isoformat()}.*#appointment-{booked.pk}$"))
    block = page.locator(f"#appointment-{booked.pk}")
    expect(block).to_be_visible()
    expect(block.locator(".appt-time")).to_have_text("10:20")
    expect(block.locator(".appt-name")).to_have_text("Margaret Olsen")
    expect(block.locator(".appt-type")).to_have_text("PIT session")
    expect(block.locator(".st")).to_have_text("Booked")
    column = page.locator(f".cal-col[data-clinician='{clinician.pk}'][data-day='{day.isoformat()}']")
    expect(column.locator(".cal-item", has=block)).to_have_attribute("style", re.compile(r"--m: 620;"))
    # The page opened at #appointment-N to show the new block: once loaded (the browser scrolls to the
    # fragment by then), the block must be on screen, and so must the message.
    page.wait_for_load_state("load")
    hidden_by = block.evaluate(COVERED_AT_CENTRE)
    if hidden_by:
        problems.append(f"On the calendar after booking, the new appointment is hidden under {hidden_by}")
    if not page.get_by_role("alert").evaluate(IN_VIEWPORT):
        problems.append("On the calendar after booking, the success message is scrolled out of view")

    # Mark her arrived with one click on the block: htmx swaps the block in place, no page load.
    page.evaluate("window.journeyMarker = 'same page'")
    block.evaluate("element => element.scrollIntoView({block: 'center'})")  # as a person would, if need be
    arrived = block.get_by_role("button", name="Mark Margaret Olsen arrived")
    expect(arrived).to_be_visible()
    note_unless_seen(problems, arrived, "The Arrived button of the new appointment")
    with page.expect_response(re.compile(rf"/appointments/{booked.pk}/status/$")) as marked:
        arrived.click()
    assert marked.value.status == 200
    block = page.locator(f"#appointment-{booked.pk}")
    expect(block).to_have_class(re.compile(r"\bstatus-arrived\b"))
    expect(block.locator(".st")).to_have_text("Arrived")
    assert page.evaluate("window.journeyMarker") == "same page"  # no navigation: the block came by htmx
    expect(existing_block.locator(".st")).to_have_text("Booked")
    booked.refresh_from_db()
    assert booked.status == AppointmentStatus.ARRIVED
    existing.refresh_from_db()
    assert existing.status == AppointmentStatus.BOOKED

    # The other appointment's menu: its items arrive when it is first opened; "Did not attend" swaps the block.
    existing_block.evaluate("element => element.scrollIntoView({block: 'center'})")
    with page.expect_response(re.compile(rf"/appointments/{existing.pk}/menu/\?next=")) as menu:
        existing_block.get_by_role("button", name="Actions for Dana Whitfield at 10:00").click()
    assert menu.value.status == 200
    did_not_attend = existing_block.get_by_role("button", name="Did not attend")
    expect(did_not_attend).to_be_visible()
    expect(existing_block.get_by_role("link", name="Cancel…")).to_be_visible()
    with page.expect_response(re.compile(rf"/appointments/{existing.pk}/status/$")) as marked:
        did_not_attend.click()
    assert marked.value.status == 200
    expect(page.locator(f"#appointment-{existing.pk}").locator(".st")).to_have_text("Did not attend")
    assert page.evaluate("window.journeyMarker") == "same page"
    existing.refresh_from_db()
    assert existing.status == AppointmentStatus.NO_SHOW

    # The whole working day on screen for the picture.
    page.set_viewport_size({"width": 1280, "height": 1500})
    page.mouse.move(0, 0)  # no free cell highlighted under a resting pointer
    page.screenshot(path=tmp_path / "day-calendar.png", full_page=True)

    # Last, so that the stored record is checked even when the pages had problems.
    assert not problems, "\n".join(problems)
