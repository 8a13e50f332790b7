"""The outcomes report's bar chart: bars as long as their share, every bar said in words, none for too few."""

import re

from outcomes.charts import Bar, bar_chart_svg, describe
from outcomes.report import Rate

TITLE = "Responders by condition"


def _bars(svg: str) -> list[float]:
    return [float(width) for width in re.findall(r'<rect x="[\d.]+" y="[\d.]+" width="([\d.]+)"', svg)]


def test_each_bar_is_as_long_as_its_share_and_labelled_with_its_count():
    svg = bar_chart_svg([Bar("Low back pain", Rate(3, 4)), Bar("Osteoarthritis", Rate(1, 4))], title=TITLE)
    full, quarter = _bars(svg)
    assert full == 3 * quarter  # 75% and 25% of the same scale
    assert ">3/4 (75%)</text>" in svg and ">1/4 (25%)</text>" in svg
    assert 'role="img"' in svg and "<title id=" in svg


def test_a_group_with_too_few_courses_has_no_bar_and_says_so():
    svg = bar_chart_svg([Bar("Low back pain", Rate(2, 4)), Bar("Bursitis", None)], title=TITLE)
    assert len(_bars(svg)) == 1
    assert ">too few</text>" in svg
    assert "Bursitis: too few courses to show a rate." in svg


def test_the_description_says_every_bar():
    bars = [Bar("Low back pain", Rate(2, 3)), Bar("Tendinitis", Rate(0, 0)), Bar("Bursitis", None)]
    assert describe(TITLE, bars) == (
        "Responders by condition. Low back pain: 2 of 3 (67%). Tendinitis: no course to count. "
        "Bursitis: too few courses to show a rate."
    )
    assert describe(TITLE, []) == "Responders by condition: no courses in this period."


def test_a_long_name_is_shortened_on_the_chart_but_whole_in_the_description():
    name = "Complex regional pain syndrome (CRPS) of the left hand and wrist"
    svg = bar_chart_svg([Bar(name, Rate(1, 2))], title=TITLE)
    assert f"{name}: 1 of 2 (50%)." in svg
    assert "…</text>" in svg


def test_the_same_figures_draw_the_same_markup_and_others_other_ids():
    first = bar_chart_svg([Bar("Low back pain", Rate(1, 2))], title=TITLE)
    assert first == bar_chart_svg([Bar("Low back pain", Rate(1, 2))], title=TITLE)
    other = bar_chart_svg([Bar("Low back pain", Rate(2, 2))], title=TITLE)
    assert re.search(r'id="(bar-chart-\w+)-title"', first)[1] != re.search(r'id="(bar-chart-\w+)-title"', other)[1]
