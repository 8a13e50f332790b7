"""pit_portal.fragments: its quick dates say what Django's |date filter says, on the clinic's wall clock; markup
drawn once takes what each response fills in, escaped."""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.template.defaultfilters import date as django_date
from django.urls import get_script_prefix, reverse, set_script_prefix
from django.utils.html import escape as escape_text
from django.utils.safestring import SafeString
from django.utils.timezone import template_localtime
from hypothesis import given
from hypothesis import strategies as st

from pit_portal.fragments import IdLinks, fill_marks, join_fragments, local_date, mark, quick_date_format, url_of

FORMATS = ["d/m/Y", "d/m/Y H:i", "D d/m/Y H:i", "Y-m-d", "D {d}", "l j F Y", "j M", "j M Y", "D j M H:i"]
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
@pytest.mark.parametrize("format_string", ["D d/m/Y", "l j F Y", "j M Y"])
def test_a_date_reads_as_django_shows_it(day, format_string):
    assert local_date(day, format_string) == django_says(day, format_string)


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


def test_a_mark_is_filled_with_the_value_escaped_unless_it_is_markup():
    drawn = SafeString(f"<p>{mark('who')}</p><form>{mark('inputs')}</form>")
    filled = fill_marks(drawn, {"who": "<b>Ann</b> & co", "inputs": SafeString('<input name="x">')})
    assert filled == '<p>&lt;b&gt;Ann&lt;/b&gt; &amp; co</p><form><input name="x"></form>'
    assert isinstance(filled, SafeString)


def test_text_spelling_a_mark_is_escaped_before_any_filling_in():
    assert fill_marks(SafeString(escape_text(str(mark("who")))), {"who": "Ann"}) == "&lt;pit:who&gt;"


def test_joined_fragments_keep_markup_and_escape_text():
    joined = join_fragments([SafeString("<i>a</i>"), "<b>", SafeString("<i>c</i>")])
    assert joined == "<i>a</i>&lt;b&gt;<i>c</i>" and isinstance(joined, SafeString)


LINKS = {"patient": "patients:detail", "course": "treatments:course"}


def test_id_links_are_the_reversed_urls_with_the_id_in_place():
    links = IdLinks.reversed(LINKS)
    for pk in (1, 42, 10**9):
        assert links.to("patient", pk) == reverse("patients:detail", args=[pk])
        assert links.to("course", pk) == reverse("treatments:course", args=[pk])
    assert url_of("login") == reverse("login")


def test_id_links_are_reversed_once_for_each_prefix_the_portal_is_served_under():
    assert IdLinks.reversed(LINKS) is IdLinks.reversed(dict(LINKS))
    served_at = get_script_prefix()
    set_script_prefix("/clinic/")
    try:
        link = IdLinks.reversed(LINKS).to("patient", 7)
        assert link.startswith("/clinic/") and link == reverse("patients:detail", args=[7])
        assert url_of("login").startswith("/clinic/")
    finally:
        set_script_prefix(served_at)
    assert not IdLinks.reversed(LINKS).to("patient", 7).startswith("/clinic/")
