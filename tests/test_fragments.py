"""pit_portal.fragments: its quick dates say what Django's |date filter says, on the clinic's wall clock."""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.template.defaultfilters import date as django_date
from django.utils.timezone import template_localtime
from hypothesis import given
from hypothesis import strategies as st

from pit_portal.fragments import local_date, quick_date_format

FORMATS = ["d/m/Y", "d/m/Y H:i", "D d/m/Y H:i", "Y-m-d", "D {d}"]
# The clinic's clocks go forward and back in these weeks (Europe/London): the instants around them shift hour.
AROUND_CLOCK_CHANGES = [datetime(2026, 3, 29, 0, 30, tzinfo=UTC), datetime(2026, 10, 25, 0, 30, tzinfo=UTC)]


def django_says(value, format_string: str) -> str:
    return django_date(template_localtime(value), format_string)


@given(
    moment=st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2040, 12, 31), timezones=st.just(UTC)),
    format_string=st.sampled_from(FORMATS),
)
def test_a_moment_reads_as_django_shows_it(moment, format_string):
    assert local_date(moment, format_string) == django_says(moment, format_string)


@pytest.mark.parametrize("format_string", FORMATS)
@pytest.mark.parametrize("minutes", range(-90, 120, 30))
@pytest.mark.parametrize("change", AROUND_CLOCK_CHANGES)
def test_the_wall_clock_is_the_clinics_across_a_clock_change(change, minutes, format_string):
    moment = change + timedelta(minutes=minutes)
    assert local_date(moment, format_string) == django_says(moment, format_string)


@given(day=st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31)))
def test_a_date_reads_as_django_shows_it(day):
    assert local_date(day, "D d/m/Y") == django_says(day, "D d/m/Y")


@pytest.mark.parametrize("format_string", ["j N Y", "d/m/Y P", r"\d d", "H:i"])
def test_other_formats_are_left_to_django(format_string):
    moment = datetime(2026, 12, 2, 9, 5, tzinfo=UTC)
    if format_string != "H:i":
        assert quick_date_format(format_string, True) is None
    assert quick_date_format("H:i", False) is None  # a date has no time of day: Django decides what that shows
    assert local_date(moment, format_string) == django_says(moment, format_string)


@pytest.mark.parametrize("value", [None, ""])
def test_nothing_reads_as_nothing(value):
    assert local_date(value, "d/m/Y") == ""
