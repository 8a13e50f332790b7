"""The calendars' "now" line: drawn on today's column where the time grid shows the current time, and not at all
when the clock is outside the hours the grid shows (before the first or after the last), whoever is working."""

import re
from datetime import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.scheduling.factories import every_day

NOW_LINE = re.compile(r'<div class="cal-now" style="--m: (\d+)"')


@pytest.fixture
def stop_clock(monkeypatch):
    """Stops the clinic's wall clock (timezone.localtime() without a value) today at the hour and minute given."""
    localtime = timezone.localtime

    def stop_at(hour: int, minute: int = 0) -> datetime:
        stopped = localtime().replace(hour=hour, minute=minute, second=0, microsecond=0)
        monkeypatch.setattr(
            timezone, "localtime", lambda value=None, zone=None: localtime(value, zone) if value else stopped
        )
        return stopped

    return stop_at


def _grid(client, view: str, **params) -> str:
    response = client.get(reverse(view), {"date": timezone.localdate().isoformat(), **params})
    assert response.status_code == 200
    return response.content.decode()


def _axis(body: str) -> tuple[int, int]:
    found = re.search(r'data-axis="(\d+)" data-span="(\d+)"', body)
    return int(found.group(1)), int(found.group(2))


@pytest.mark.parametrize("hour, minute", [(23, 40), (18, 30), (6, 45)])
def test_on_a_day_nobody_works_the_clock_outside_the_grid_draws_no_now_line(front_desk_client, clinician, stop_clock,
                                                                           hour, minute):  # fmt: skip
    stop_clock(hour, minute)
    body = _grid(front_desk_client, "scheduling:day")
    assert "Not working" in body
    assert _axis(body) == (8 * 60, 10 * 60)  # the clinic's usual 08:00-18:00, not one lone hour
    assert NOW_LINE.search(body) is None


def test_on_a_day_nobody_works_the_now_line_is_drawn_inside_the_grid(front_desk_client, clinician, stop_clock):
    stop_clock(10, 15)
    assert NOW_LINE.findall(_grid(front_desk_client, "scheduling:day")) == [str(10 * 60 + 15)]


@pytest.mark.parametrize("view", ["scheduling:day", "scheduling:week"])
def test_after_working_hours_no_now_line_is_drawn_below_the_grid(front_desk_client, clinician, stop_clock, view):
    every_day(clinician)  # 08:00-18:00
    stop_clock(19, 30)
    body = _grid(front_desk_client, view, clinician=clinician.pk)
    axis_start, span = _axis(body)
    assert axis_start + span == 18 * 60
    assert NOW_LINE.search(body) is None


def test_at_the_end_of_the_grid_the_now_line_is_its_bottom_edge(front_desk_client, clinician, stop_clock):
    every_day(clinician)
    stop_clock(18, 0)
    assert NOW_LINE.findall(_grid(front_desk_client, "scheduling:day")) == [str(18 * 60)]
