"""The calendars as a laptop shows them (1366 px wide): a long patient name is shown whole in both week views,
measured by the browser, not guessed from the CSS."""

from datetime import time

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Page, expect

from accounts.models import User
from scheduling.models import AppointmentType, WorkingHours
from scheduling.services import appointment_book
from tests.browser.test_content_security_policy import signed_in_as
from tests.browser.test_registration_journey import watch_for_problems
from tests.browser.test_scheduling_journey import restore_reference_data, weekday_ahead
from tests.factories import PatientFactory
from tests.scheduling.factories import at

LAPTOP = {"width": 1366, "height": 768}
LONG_NAME = ("Bartholomew", "Featherstonehaugh")

# How many pixels of the element's text the browser hides: its own overflow (an ellipsis), and how far it reaches
# outside `.appt` or `.appt-chip`, which clip their content. Zero when the name is shown whole.
HIDDEN_PIXELS = """element => {
    const own = Math.max(element.scrollWidth - element.clientWidth, element.scrollHeight - element.clientHeight);
    const box = element.getBoundingClientRect(), frame = element.closest(".appt, .appt-chip").getBoundingClientRect();
    const cut = Math.max(
        frame.left - box.left, box.right - frame.right, frame.top - box.top, box.bottom - frame.bottom);
    return Math.max(0, Math.ceil(own), Math.ceil(cut));
}"""


@pytest.fixture(params=["pit-session", "review"])
def booked_long_name(request, front_desk: User, clinician: User):
    """The clinic's only clinician, working weekdays, with a long-named patient booked for a 20-minute PIT session
    (a block of two lines) or a 15-minute review (a block of one line)."""
    restore_reference_data()
    WorkingHours.objects.bulk_create(
        WorkingHours(clinician=clinician, weekday=weekday, starts=time(8), ends=time(18)) for weekday in range(5)
    )
    given, family = LONG_NAME
    day = weekday_ahead(7)
    return appointment_book(
        patient=PatientFactory(given_name=given, family_name=family),
        clinician=clinician,
        appointment_type=AppointmentType.objects.get(code=request.param),
        starts_at=at(day, 10),
        by=front_desk,
    )


def _open_week(page: Page, live_server, front_desk: User, **params) -> None:
    page.set_viewport_size(LAPTOP)
    signed_in_as(page, front_desk, live_server.url)
    query = "&".join(f"{key}={value}" for key, value in params.items())
    page.goto(f"{reverse('scheduling:week')}?{query}")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_clinicians_week_shows_a_long_name_whole_at_1366_px(page: Page, live_server, front_desk, booked_long_name):
    problems = watch_for_problems(page)
    day = timezone.localtime(booked_long_name.starts_at).date()
    _open_week(page, live_server, front_desk, date=day.isoformat(), clinician=booked_long_name.clinician_id)
    name = page.locator(f"#appointment-{booked_long_name.pk} .appt-name")
    expect(name).to_have_text(" ".join(LONG_NAME))
    assert name.evaluate(HIDDEN_PIXELS) == 0
    # The seven days fit the laptop's width: no sideways scrolling to reach Sunday.
    assert page.locator("#calendar-grid").evaluate("grid => grid.scrollWidth <= grid.clientWidth")
    assert problems == []


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_all_clinicians_week_shows_a_long_name_whole_at_1366_px(
    page: Page, live_server, front_desk, booked_long_name
):
    problems = watch_for_problems(page)
    day = timezone.localtime(booked_long_name.starts_at).date()
    _open_week(page, live_server, front_desk, date=day.isoformat())
    chip = page.locator("#week-all .appt-chip")
    expect(chip).to_contain_text(" ".join(LONG_NAME))
    assert chip.evaluate(HIDDEN_PIXELS) == 0
    assert problems == []


# Where the day's column and the "now" line sit within the part of the grid on screen, in pixels from its top.
GRID_PLACES = """grid => {
    const shown = grid.getBoundingClientRect(), column = grid.querySelector(".cal-col").getBoundingClientRect();
    const now = grid.querySelector(".cal-now");
    return {
        scrolled: grid.scrollTop,
        columnBottom: column.bottom - shown.top,
        columnTop: column.top - shown.top,
        gridHeight: grid.clientHeight,
        now: now === null ? null : now.getBoundingClientRect().top - shown.top,
    };
}"""


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("hour, minute", [(23, 40), (10, 15)])
def test_the_day_calendar_of_a_day_nobody_works_shows_its_hours_and_now_inside_them(
    page: Page, live_server, front_desk, clinician, monkeypatch, hour, minute
):
    """The clinician works no day at all; the clinic's clock is stopped today (the live server runs in this
    process) late in the evening or mid-morning."""
    localtime = timezone.localtime
    stopped = localtime().replace(hour=hour, minute=minute, second=0, microsecond=0)
    monkeypatch.setattr(
        timezone, "localtime", lambda value=None, zone=None: localtime(value, zone) if value else stopped
    )
    problems = watch_for_problems(page)
    page.set_viewport_size(LAPTOP)
    signed_in_as(page, front_desk, live_server.url)
    page.goto(reverse("scheduling:day"))
    expect(page.locator(".cal-hours")).to_have_text("Not working")
    page.wait_for_load_state("load")
    places = page.locator("#calendar-grid").evaluate(GRID_PLACES)
    # The grid on screen is filled by the day's hours: no blank past its last hour to scroll down to.
    assert places["columnBottom"] >= places["gridHeight"] - 1, places
    if hour == 23:
        assert places["now"] is None and places["scrolled"] == 0, places
    else:
        assert places["columnTop"] <= places["now"] <= places["columnBottom"], places
    assert problems == []
