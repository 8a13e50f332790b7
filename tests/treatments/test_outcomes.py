"""A change in pain always says which way it went, and a course's response is read from its signed notes only."""

import re

import pytest
from django.conf import settings
from hypothesis import given
from hypothesis import strategies as st

from tests.security.test_headers import project_template_files
from treatments.outcomes import Direction, pain_change, responder_label, responder_status


@pytest.mark.parametrize(
    ("before", "after", "text"),
    [
        (4, 6, "50% worse"),  # (6 - 4) / 4: a rise is never "relief"
        (8, 4, "50% better"),  # (8 - 4) / 8
        (6, 6, "no change"),
        (8, 3, "63% better"),  # 62.5 rounds half up, not to the even 62
        (7, 2, "71% better"),  # 5 / 7 = 71.4
        (3, 10, "233% worse"),  # 7 / 3 = 233.3: a rise can pass 100%
        (10, 0, "100% better"),
        (0, 3, "worse (from 0)"),  # no percentage of nothing, but still a rise
        (0, 0, "no change"),
    ],
)
def test_a_change_in_pain_says_which_way_it_went(before, after, text):
    assert str(pain_change(before, after)) == text


@given(st.integers(0, 10), st.integers(0, 10))
def test_every_change_names_its_direction_and_never_carries_a_sign(before, after):
    words = str(pain_change(before, after))
    expected = "better" if after < before else "worse" if after > before else "no change"
    assert words.endswith(expected) or (before == 0 and words == f"{expected} (from 0)")
    assert "-" not in words and "\N{MINUS SIGN}" not in words


@pytest.mark.parametrize(("before", "after"), [(None, 3), (4, None), (None, None)])
def test_no_change_is_stated_without_both_scores(before, after):
    assert pain_change(before, after) is None


@pytest.mark.parametrize(("before", "after"), [(11, 5), (5, -1)])
def test_impossible_scores_are_refused(before, after):
    with pytest.raises(ValueError):
        pain_change(before, after)
    with pytest.raises(ValueError):
        responder_status(before, after)


@pytest.mark.parametrize(
    ("before", "after", "direction", "css"),
    [(4, 6, Direction.WORSE, "text-danger-emphasis"), (8, 4, Direction.BETTER, "text-success-emphasis")],
)
def test_on_a_page_the_change_carries_a_colour_and_its_word(before, after, direction, css):
    change = pain_change(before, after)
    html = change.as_html()
    assert change.direction is direction
    assert f'data-direction="{direction.name.lower()}"' in html and css in html
    assert f">{change}</span>" in html  # the word is there, not the colour alone


@pytest.mark.parametrize(
    ("baseline", "latest", "status", "label"),
    [
        (8, 4, "substantial", "≥ 50% better"),
        (10, 7, "moderate", "≥ 30% better"),
        (10, 8, "none", "not yet"),
        (7, 5, "none", "not yet"),  # 28.6%: just short of moderate
        (4, 6, "none", "not yet"),  # worse is never a response
        (6, 6, "none", "not yet"),
        (0, 3, "unknown", "not known"),
        (None, 3, "unknown", "not known"),
        (8, None, "unknown", "not known"),
    ],
)
def test_responder_status_reads_both_sides_of_the_30_and_50_percent_thresholds(baseline, latest, status, label):
    assert responder_status(baseline, latest) == status
    assert responder_label(status) == label


# A variable printed straight before "%" is a number whose sign the reader has to interpret; changes in pain go
# through pain_change (its words say the direction), and concentrations are worded in Python (solution_description).
BARE_PERCENTAGE = re.compile(r"\}\}\s*(%|&#37;|&percnt;)")


def test_no_template_prints_a_bare_percentage():
    offences = [
        f"{path.relative_to(settings.BASE_DIR)}: {match.group(0)!r}"
        for path in project_template_files()
        for match in BARE_PERCENTAGE.finditer(path.read_text(encoding="utf-8"))
    ]
    assert offences == []
