from decimal import Decimal

import pytest

from assessments.models import DN4_ITEMS, Assessment, FunctionalActivity
from assessments.scores import DN4


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        ((7, 6, 8), Decimal("7.0")),  # 21 / 3
        ((0, 0, 0), Decimal("0.0")),
        ((10, 10, 10), Decimal("10.0")),
        ((5, 5, 6), Decimal("5.3")),  # 16 / 3 = 5.33...
        ((9, 9, 8), Decimal("8.7")),  # 26 / 3 = 8.66...
    ],
)
def test_peg_is_the_mean_of_its_three_items(items, expected):
    pain, enjoyment, activity = items
    assessment = Assessment(peg_pain=pain, peg_enjoyment=enjoyment, peg_activity=activity)
    assert assessment.peg_score == expected


@pytest.mark.parametrize(("present", "positive"), [(0, False), (3, False), (4, True), (10, True)])
def test_dn4_counts_items_and_is_positive_from_four(present, positive):
    assessment = Assessment(**{field: index < present for index, (field, _) in enumerate(DN4_ITEMS)})
    assert assessment.dn4_score == present
    assert assessment.dn4_positive is positive


@pytest.mark.parametrize(
    ("present", "reading"),
    [
        (0, "neuropathic pain unlikely"),
        (3, "neuropathic pain unlikely"),  # one below the cut-off still reads as something
        (4, "neuropathic pain likely"),  # the published cut-off: 4 of 10 or more
        (10, "neuropathic pain likely"),
    ],
)
def test_dn4_reads_its_meaning_on_both_sides_of_the_cut_off(present, reading):
    assessment = Assessment(**{field: index < present for index, (field, _) in enumerate(DN4_ITEMS)})
    assert str(assessment.dn4_reading) == reading
    assert assessment.dn4_reading.reaches_cut_off is assessment.dn4_positive


def test_a_score_outside_its_scale_has_no_reading():
    with pytest.raises(ValueError):
        DN4.reading(11)
    with pytest.raises(ValueError):
        DN4.reading(-1)


def test_dn4_has_ten_items():
    assert len(DN4_ITEMS) == 10
    assert len({field for field, _ in DN4_ITEMS}) == 10


@pytest.mark.parametrize(
    ("scores", "expected"),
    [([3, 5, 4], Decimal("4.0")), ([2], Decimal("2.0")), ([1, 2], Decimal("1.5")), ([7, 8, 8], Decimal("7.7"))],
)
def test_psfs_is_the_mean_of_the_activity_scores(scores, expected):
    activities = [FunctionalActivity(activity=f"activity {i}", score=score) for i, score in enumerate(scores)]
    assert Assessment().psfs_score(activities) == expected


def test_psfs_is_empty_without_activities():
    assert Assessment().psfs_score([]) is None
