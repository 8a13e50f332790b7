"""The course pain chart: parsed as XML and checked for structure, geometry, escaping and safety."""

import datetime
import itertools
import xml.etree.ElementTree as ET
from decimal import Decimal

import pytest
from django.utils.safestring import SafeString

from treatments import charts
from treatments.charts import (
    AnalgesicPoint,
    PainPoint,
    analgesic_chart_svg,
    pain_chart_svg,
)

SVG = "{http://www.w3.org/2000/svg}"
NS = {"svg": SVG[1:-1]}
START = datetime.date(2025, 3, 3)


def day(offset: int) -> datetime.date:
    return START + datetime.timedelta(days=offset)


def course() -> list[PainPoint]:
    """Six weekly sessions with one two-week gap, then a review."""
    offsets, before, after = [0, 7, 14, 28, 35, 42], [8, 7, 6, 5, 4, 3], [4, 3, 3, 2, 2, 1]
    sessions = [
        PainPoint(day(o), b, a, f"S{n}") for n, (o, b, a) in enumerate(zip(offsets, before, after, strict=True), 1)
    ]
    return [*sessions, PainPoint(day(63), 3, None, "R", "review")]


def parse(svg: str) -> ET.Element:
    return ET.fromstring(str(svg))  # noqa: S314 -- our own output, and the point is to check it is well-formed


def group(root: ET.Element, **attr: str) -> ET.Element | None:
    ((name, value),) = attr.items()
    return root.find(f".//svg:g[@data-{name.replace('_', '-')}='{value}']", NS)


def polyline_points(series: ET.Element) -> list[tuple[float, float]]:
    line = series.find("svg:polyline", NS)
    return [tuple(map(float, pair.split(","))) for pair in line.get("points").split()]


def marker_centres(series: ET.Element) -> list[tuple[float, float]]:
    centres = []
    for marker in series:
        if marker.tag == f"{SVG}circle":
            centres.append((float(marker.get("cx")), float(marker.get("cy"))))
        elif marker.tag == f"{SVG}rect":
            x, y, size = float(marker.get("x")), float(marker.get("y")), float(marker.get("width"))
            centres.append((x + size / 2, y + size / 2))
        elif marker.tag == f"{SVG}polygon":
            corners = [tuple(map(float, pair.split(","))) for pair in marker.get("points").split()]
            centres.append((sum(x for x, _ in corners) / len(corners), sum(y for _, y in corners) / len(corners)))
    return centres


def texts(element: ET.Element) -> list[str]:
    return [t.text for t in element.iter(f"{SVG}text")]


# --- Series geometry -----------------------------------------------------------------------------------------------


def test_before_and_after_have_one_point_and_marker_per_session():
    root = parse(pain_chart_svg(course()))
    before, after = group(root, series="before"), group(root, series="after")
    assert len(polyline_points(before)) == 6
    assert len(before.findall("svg:circle", NS)) == 6
    assert len(polyline_points(after)) == 6
    assert len(after.findall("svg:rect", NS)) == 6


def test_markers_sit_on_the_line():
    root = parse(pain_chart_svg(course()))
    for name in ("before", "after"):
        series = group(root, series=name)
        flat = list(itertools.chain.from_iterable(polyline_points(series)))
        assert list(itertools.chain.from_iterable(marker_centres(series))) == pytest.approx(flat, abs=0.11)


def test_higher_score_is_higher_on_the_chart():
    root = parse(pain_chart_svg(course()))
    before_y = [y for _, y in polyline_points(group(root, series="before"))]
    after_y = [y for _, y in polyline_points(group(root, series="after"))]
    # Before scores fall 8 -> 3, so y (downwards in SVG) must rise strictly.
    assert before_y == sorted(before_y)
    assert len(set(before_y)) == 6
    # After is always lower pain than before, so always lower on the chart.
    assert all(a > b for a, b in zip(after_y, before_y, strict=True))
    # Equal scores sit at equal heights: before 3 at S6 and after 3 at S2.
    assert before_y[5] == pytest.approx(after_y[1])


def test_x_follows_elapsed_days_not_index():
    points = [PainPoint(day(0), 5, 2), PainPoint(day(7), 5, 2), PainPoint(day(21), 5, 2)]
    xs = [x for x, _ in polyline_points(group(parse(pain_chart_svg(points)), series="before"))]
    assert xs[0] < xs[1] < xs[2]
    assert (xs[2] - xs[1]) == pytest.approx(2 * (xs[1] - xs[0]), abs=0.2)


def test_points_given_out_of_order_are_drawn_in_date_order():
    shuffled = [PainPoint(day(14), 3, 1), PainPoint(day(0), 9, 5), PainPoint(day(7), 6, 2)]
    coords = polyline_points(group(parse(pain_chart_svg(shuffled)), series="before"))
    xs, ys = zip(*coords, strict=True)
    assert list(xs) == sorted(xs)
    assert list(ys) == sorted(ys)  # 9, 6, 3 in date order: falling pain, rising y


def test_reviews_are_separate_diamond_markers():
    root = parse(pain_chart_svg(course()))
    reviews = group(root, series="review")
    assert len(reviews.findall("svg:polygon", NS)) == 1
    assert reviews.find("svg:polyline", NS) is None
    review_x, review_y = marker_centres(reviews)[0]
    last_x, last_y = polyline_points(group(root, series="before"))[-1]
    assert review_x > last_x  # three weeks after the last session
    assert review_y == pytest.approx(last_y, abs=0.11)  # same score, 3


def test_single_point_and_same_day_points_render_inside_the_plot():
    for points in ([PainPoint(day(0), 6, 2)], [PainPoint(day(0), 7, 3), PainPoint(day(0), 6, 2)]):
        root = parse(pain_chart_svg(points, width=400))
        centres = marker_centres(group(root, series="before"))
        assert len(centres) == len(points)
        gridline = group(root, role="y-axis").find("svg:line", NS)
        middle = (float(gridline.get("x1")) + float(gridline.get("x2"))) / 2
        assert {x for x, _ in centres} == {middle}  # centred: there is no span of days to spread them over


# --- Reference lines, labels, legend --------------------------------------------------------------------------------


def reference(root: ET.Element, role: str) -> ET.Element | None:
    return root.find(f".//svg:line[@data-role='{role}']", NS)


def test_baseline_and_thresholds_drawn_at_the_right_heights():
    root = parse(pain_chart_svg(course(), baseline=8))
    before_y = [y for _, y in polyline_points(group(root, series="before"))]
    after_y = [y for _, y in polyline_points(group(root, series="after"))]
    assert float(reference(root, "baseline").get("y1")) == pytest.approx(before_y[0])  # score 8
    assert float(reference(root, "threshold-50").get("y1")) == pytest.approx(after_y[0])  # 50% of 8 = 4
    threshold_30 = float(reference(root, "threshold-30").get("y1"))  # 5.6: between scores 6 and 5
    assert before_y[2] < threshold_30 < before_y[3]
    assert reference(root, "baseline").get("stroke-dasharray")
    assert "Baseline 8" in texts(root)


def test_no_baseline_means_no_reference_lines():
    root = parse(pain_chart_svg(course()))
    for role in ("baseline", "threshold-30", "threshold-50"):
        assert reference(root, role) is None
    assert not any("Baseline" in text for text in texts(root))


def test_before_and_after_differ_in_colour_dash_and_marker():
    root = parse(pain_chart_svg(course()))
    before = group(root, series="before").find("svg:polyline", NS)
    after = group(root, series="after").find("svg:polyline", NS)
    assert before.get("stroke") != after.get("stroke")
    assert before.get("stroke-dasharray") is None
    assert after.get("stroke-dasharray")


def test_legend_names_each_series_shown():
    legend = group(parse(pain_chart_svg(course(), baseline=8)), role="legend")
    assert texts(legend) == ["Before injection", "After injection", "Review", "Baseline", "30% / 50% reduction"]
    legend = group(parse(pain_chart_svg(course()[:6])), role="legend")
    assert texts(legend) == ["Before injection", "After injection"]


def test_y_axis_runs_zero_to_ten():
    root = parse(pain_chart_svg(course()))
    assert texts(group(root, role="y-axis")) == ["0", "2", "4", "6", "8", "10"]


def test_x_labels_are_day_and_short_month():
    root = parse(pain_chart_svg(course()))
    assert texts(group(root, role="x-labels"))[:3] == ["3 Mar", "10 Mar", "17 Mar"]
    assert texts(group(root, role="point-labels"))[:2] == ["S1", "S2"]


def test_sixty_points_thin_their_labels_but_keep_every_marker():
    points = [PainPoint(day(7 * n), 9 - n // 10, 4 - n // 20, f"S{n + 1}") for n in range(60)]
    root = parse(pain_chart_svg(points))
    assert len(marker_centres(group(root, series="before"))) == 60
    x_labels = group(root, role="x-labels").findall("svg:text", NS)
    assert 3 < len(x_labels) < 60
    xs = [float(label.get("x")) for label in x_labels]
    assert min(b - a for a, b in itertools.pairwise(xs)) >= 40  # "28 Sep" is ~37px wide at 10px
    assert x_labels[-1].text == "20 Apr"  # 59 weeks on from 3 Mar 2025: the latest date is always labelled
    assert len(group(root, role="point-labels").findall("svg:text", NS)) < 60


# --- Accessibility, escaping, safety --------------------------------------------------------------------------------


def test_accessible_name_and_description():
    root = parse(pain_chart_svg(course(), baseline=8, title="Pain: Jane's course"))
    assert root.get("role") == "img"
    title_id, desc_id = root.get("aria-labelledby").split()
    assert root.find(f"svg:title[@id='{title_id}']", NS).text == "Pain: Jane's course"
    desc = root.find(f"svg:desc[@id='{desc_id}']", NS).text
    assert desc.startswith("Pain before injection fell from 8 to 3 over 6 sessions.")
    assert "Pain shortly after injection fell from 4 to 1." in desc
    # The review, 3: (8 - 3) / 8 = 62.5%, rounded half up; the response read from the 50% threshold.
    assert "Baseline pain 8; latest score 3, 63% better (response: ≥ 50% better)." in desc


def test_description_compares_baseline_with_a_later_review_not_an_after_score():
    points = [PainPoint(day(0), 8, 2, "S1"), PainPoint(day(14), 5, None, "R", "review")]
    desc = parse(pain_chart_svg(points, baseline=8)).find("svg:desc", NS).text
    assert "latest score 5, 38% better (response: ≥ 30% better)" in desc  # (8 - 5) / 8 = 37.5%


def test_ids_are_stable_for_one_chart_and_differ_between_charts():
    assert pain_chart_svg(course()) == pain_chart_svg(course())
    first = parse(pain_chart_svg(course())).get("aria-labelledby")
    second = parse(pain_chart_svg(course()[:3])).get("aria-labelledby")
    assert first != second


def test_labels_and_title_are_escaped():
    points = [PainPoint(day(0), 5, 2, "<script>alert(1)</script>"), PainPoint(day(7), 4, 2, "S2")]
    svg = pain_chart_svg(points, title='Tom & "Jerry" <b>')
    assert "<script" not in svg
    assert "<b>" not in svg
    root = parse(svg)  # still well-formed XML
    assert "<script>alert(1)</script>" in texts(root)
    assert root.find("svg:title", NS).text == 'Tom & "Jerry" <b>'


def test_returns_safe_string():
    assert isinstance(pain_chart_svg(course()), SafeString)
    assert isinstance(pain_chart_svg([]), SafeString)
    assert isinstance(analgesic_chart_svg([AnalgesicPoint(day(0), Decimal(3))]), SafeString)


@pytest.mark.parametrize(
    "svg",
    [
        pytest.param(lambda: pain_chart_svg(course(), baseline=8), id="pain"),
        pytest.param(lambda: pain_chart_svg([]), id="empty"),
        pytest.param(lambda: analgesic_chart_svg([AnalgesicPoint(day(0), Decimal(3))]), id="analgesic"),
    ],
)
def test_nothing_active_external_or_stylesheet_based(svg):
    markup = svg().lower()
    for forbidden in ("<script", "href", "<image", "<style", "class=", "style=", "url(", "<foreignobject"):
        assert forbidden not in markup
    assert markup.count("http") == 1  # the xmlns declaration only
    assert parse(markup).get("font-family") == "dejavu sans, sans-serif"


# --- Validation and empty input --------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [11, -1])
def test_scores_outside_zero_to_ten_are_rejected(bad):
    with pytest.raises(ValueError, match="NRS"):
        PainPoint(day(0), bad, 2)
    with pytest.raises(ValueError, match="NRS"):
        PainPoint(day(0), 5, bad)
    with pytest.raises(ValueError, match="NRS"):
        pain_chart_svg(course(), baseline=bad)


def test_unknown_kind_is_rejected():
    with pytest.raises(ValueError, match="kind"):
        PainPoint(day(0), 5, 2, kind="phone call")


def test_empty_series_says_so():
    for points in ([], [PainPoint(day(0), None, None, "S1")]):
        root = parse(pain_chart_svg(points))
        assert "No scores recorded yet" in texts(root)
        assert root.find(".//svg:polyline", NS) is None
        assert int(root.get("height")) < 100
        assert root.get("role") == "img"


# --- Analgesic chart -------------------------------------------------------------------------------------------------


def test_analgesic_chart_scales_to_a_tidy_maximum():
    points = [AnalgesicPoint(day(0), Decimal(14)), AnalgesicPoint(day(14), Decimal("4.5"))]
    root = parse(analgesic_chart_svg(points))
    assert texts(group(root, role="y-axis")) == ["0", "5", "10", "15"]
    coords = polyline_points(group(root, series="doses"))
    assert len(coords) == 2
    assert coords[0][1] < coords[1][1]
    assert "fell from 14 to 4.5 doses per week" in root.find("svg:desc", NS).text


def test_analgesic_chart_empty_and_negative():
    assert "No analgesic use recorded yet" in texts(parse(analgesic_chart_svg([])))
    with pytest.raises(ValueError):
        AnalgesicPoint(day(0), Decimal(-1))


# --- Which way pain went ----------------------------------------------------------------------------------------------


def test_threshold_labels_say_which_way_they_go():
    labels = texts(group(parse(pain_chart_svg(course(), baseline=8)), role="reference-lines"))
    assert labels == ["Baseline 8", "30% better", "50% better"]


def test_a_rise_after_injection_is_flagged_with_a_word_in_colour_and_described():
    points = [PainPoint(day(0), 4, 6, "S1"), PainPoint(day(7), 6, 2, "S2")]
    root = parse(pain_chart_svg(points))
    flags = group(root, role="worse-flags")
    ((flag,),) = [flags.findall("svg:text", NS)]
    assert flag.text == "worse" and flag.get("fill") == charts.WORSE_COLOUR
    (after_s1, _) = marker_centres(group(root, series="after"))
    assert float(flag.get("x")) == pytest.approx(after_s1[0]) and float(flag.get("y")) < after_s1[1]
    after_tips = [t.text for t in group(root, series="after").iter(f"{SVG}title")]
    assert after_tips[0].endswith("pain after injection 6 (50% worse)")  # (6 - 4) / 4
    assert after_tips[1].endswith("pain after injection 2 (67% better)")  # (6 - 2) / 6
    desc = root.find("svg:desc", NS).text
    assert "Pain was higher straight after the injection at S1 (50% worse)." in desc


def test_no_flag_when_pain_fell_or_stayed_after_injection():
    points = [PainPoint(day(0), 4, 4, "S1"), PainPoint(day(7), 6, 2, "S2")]
    assert group(parse(pain_chart_svg(points)), role="worse-flags") is None


def test_a_latest_score_above_baseline_is_called_worse():
    points = [PainPoint(day(0), 8, 6, "S1"), PainPoint(day(14), 7, None, "R", "review")]
    desc = parse(pain_chart_svg(points, baseline=6)).find("svg:desc", NS).text
    assert "Baseline pain 6; latest score 7, 17% worse (response: not yet)." in desc  # (7 - 6) / 6 = 16.7%


def test_points_on_the_same_day_share_one_label():
    day = datetime.date(2026, 3, 2)
    svg = pain_chart_svg(
        [
            PainPoint(when=day, before=8, after=None, label="B", kind="baseline"),
            PainPoint(when=day, before=7, after=2, label="S1"),
        ]
    )
    assert "B/S1" in svg


# --- What the patient reported -----------------------------------------------------------------------------------


def with_reports() -> list[PainPoint]:
    """The course, with pain now as the patient reported it 3 and 10 days after the last session: 5, then 4."""
    return [*course(), PainPoint(day(45), 5, None, kind="patient"), PainPoint(day(52), 4, None, kind="patient")]


def test_patient_reports_are_open_triangles_apart_from_the_lines():
    root = parse(pain_chart_svg(with_reports()))
    reported = group(root, series="patient")
    triangles = reported.findall("svg:polygon", NS)
    assert len(triangles) == 2 and reported.find("svg:polyline", NS) is None
    assert {t.get("fill") for t in triangles} == {"#ffffff"}  # open, where the review's diamond is filled
    assert len(polyline_points(group(root, series="before"))) == 6  # not joined to the clinic's own scores
    (first_x, first_y), (second_x, second_y) = marker_centres(reported)
    (_, s4_y), (_, s5_y) = polyline_points(group(root, series="before"))[3:5]
    assert first_y == pytest.approx(s4_y, abs=0.11) and second_y == pytest.approx(s5_y, abs=0.11)  # 5 and 4
    last_session_x = polyline_points(group(root, series="before"))[-1][0]
    assert last_session_x < first_x < second_x
    tips = [t.text for t in reported.iter(f"{SVG}title")]
    assert tips == ["17 Apr: pain now, reported by the patient 5", "24 Apr: pain now, reported by the patient 4"]


def test_legend_and_description_name_what_the_patient_reported():
    root = parse(pain_chart_svg(with_reports(), baseline=8))
    assert "Reported by the patient" in texts(group(root, role="legend"))
    desc = root.find("svg:desc", NS).text
    assert "Pain now as reported by the patient fell from 5 to 4 over 2 reports." in desc
    # The review (day 63, score 3) is still the newest: (8 - 3) / 8 = 62.5%.
    assert "latest score 3, 63% better" in desc


def test_a_later_patient_report_is_the_score_compared_with_the_baseline():
    points = [PainPoint(day(0), 8, 2, "S1"), PainPoint(day(10), 5, None, kind="patient")]
    desc = parse(pain_chart_svg(points, baseline=8)).find("svg:desc", NS).text
    assert "Baseline pain 8; latest score 5, 38% better (response: ≥ 30% better)." in desc  # 3 / 8 = 37.5%
    assert "Pain now as reported by the patient was 5 over 1 report." in desc


def test_a_chart_of_patient_reports_alone_is_not_empty():
    root = parse(pain_chart_svg([PainPoint(day(0), 6, None, kind="patient")]))
    assert "No scores recorded yet" not in texts(root)
    assert len(group(root, series="patient").findall("svg:polygon", NS)) == 1


def test_a_legend_too_wide_for_one_row_wraps_and_the_plot_starts_below_it():
    root = parse(pain_chart_svg(with_reports(), baseline=8))
    legend = group(root, role="legend")
    labels = legend.findall("svg:text", NS)
    assert [t.text for t in labels] == [
        "Before injection", "After injection", "Review", "Reported by the patient", "Baseline", "30% / 50% reduction",
    ]  # fmt: skip
    rows = sorted({float(t.get("y")) for t in labels})
    assert len(rows) == 2  # six entries need about 820px at 10px DejaVu Sans: two rows in 640
    for label in labels:  # none runs past the chart's right edge
        assert float(label.get("x")) + charts._text_width(label.text) <= 640
    top_gridline = min(float(line.get("y1")) for line in group(root, role="y-axis").findall("svg:line", NS))
    assert top_gridline > rows[-1] + 10  # the "NRS" unit and the top of the plot are clear of the second row
    one_row = group(parse(pain_chart_svg(course(), baseline=8)), role="legend")
    assert len({t.get("y") for t in one_row.findall("svg:text", NS)}) == 1
