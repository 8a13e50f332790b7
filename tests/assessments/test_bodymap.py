"""The body map: region data, BodyMapForm, and the two template tags. No database needed."""

import re
from html.parser import HTMLParser
from types import SimpleNamespace

import pytest
from django.template import engines

from assessments.bodymap import (
    INTENSITY_COLOURS,
    REGION_BY_CODE,
    REGIONS,
    SILHOUETTE,
    VIEWBOX_HEIGHT,
    VIEWBOX_WIDTH,
    BodyMapForm,
    region_centre,
    region_label,
)

CODE_PATTERN = re.compile(r"^[FB]-[A-Z]+(-[A-Z]+)*$")


# --- Helpers ------------------------------------------------------------------------------------------------------


def render(template: str, **context) -> str:
    return engines["django"].from_string("{% load body_map %}" + template).render(context)


def polygon(path: str) -> list[tuple[float, float]]:
    """Points along SVG path data made of M, L, C and Z (what bodymap writes), Béziers sampled finely."""
    numbers = iter(float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", path))
    points: list[tuple[float, float]] = []
    for command in re.findall(r"[MLCZ]", path):
        if command in "ML":
            points.append((next(numbers), next(numbers)))
        elif command == "C":
            p0 = points[-1]
            c1, c2, p3 = [(next(numbers), next(numbers)) for _ in range(3)]
            for k in range(1, 17):
                t = k / 16
                u = 1 - t
                points.append(
                    tuple(
                        u**3 * a + 3 * u * u * t * b + 3 * u * t * t * c + t**3 * d
                        for a, b, c, d in zip(p0, c1, c2, p3, strict=True)
                    )
                )
    return points


def area(points: list[tuple[float, float]]) -> float:
    return abs(sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(points, points[1:] + points[:1], strict=True))) / 2


class _Elements(HTMLParser):
    def __init__(self):
        super().__init__()
        self.elements: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))

    handle_startendtag = handle_starttag


def elements(html: str, tag: str, **attrs: str) -> list[dict[str, str]]:
    parser = _Elements()
    parser.feed(html)
    return [a for t, a in parser.elements if t == tag and all(a.get(k) == v for k, v in attrs.items())]


def post_data(prefix: str = "", **regions: dict) -> dict[str, str]:
    """Form data for regions given as code=dict(selected=..., intensity=..., tender=..., note=...)."""
    data = {}
    lead = f"{prefix}-" if prefix else ""
    for code, values in regions.items():
        code = code.replace("_", "-")
        for role, value in values.items():
            if value is True:
                data[f"{lead}{code}-{role}"] = "on"
            elif value is not False:
                data[f"{lead}{code}-{role}"] = str(value)
    return data


# --- Regions ------------------------------------------------------------------------------------------------------


def test_region_codes_are_unique_and_well_formed():
    codes = [r.code for r in REGIONS]
    assert len(codes) == len(set(codes))
    assert 40 <= len(codes) <= 60
    for region in REGIONS:
        assert CODE_PATTERN.match(region.code), region.code
        assert len(region.code) <= 30
        assert region.code.startswith({"front": "F-", "back": "B-"}[region.view])
    assert {r.code: r for r in REGIONS} == REGION_BY_CODE


def test_every_region_has_a_label_and_a_closed_path():
    labels = [r.label for r in REGIONS]
    assert all(label.strip() for label in labels)
    assert len(labels) == len(set(labels)), "two regions would read the same in a report"
    for region in REGIONS:
        assert region.path.startswith("M") and region.path.endswith("Z"), region.code
        assert area(polygon(region.path)) > 100, f"{region.code} is too small to tap"


def test_expected_regions_exist():
    for code in ("F-HEAD", "F-NECK", "F-SHOULDER-L", "F-CHEST-R", "F-ABDOMEN", "F-WRIST-HAND-L", "F-ANKLE-FOOT-R"):
        assert code in REGION_BY_CODE
    for code in ("B-HEAD", "B-NECK", "B-UPPER-BACK-L", "B-LOW-BACK-R", "B-BUTTOCK-L", "B-HAMSTRING-R", "B-HEEL-L"):
        assert code in REGION_BY_CODE


def test_left_and_right_regions_come_in_mirrored_pairs():
    for region in REGIONS:
        if region.code.endswith("-L"):
            partner = REGION_BY_CODE[region.code[:-2] + "-R"]
            (lx, ly), (rx, ry) = region_centre(region.code), region_centre(partner.code)
            assert lx + rx == pytest.approx(VIEWBOX_WIDTH, abs=0.5)
            assert ly == pytest.approx(ry, abs=0.5)


def test_patient_left_is_on_the_viewers_right_from_the_front_and_on_the_left_from_behind():
    middle = VIEWBOX_WIDTH / 2
    for region in REGIONS:
        x, _ = region_centre(region.code)
        if region.code.endswith("-L"):
            assert (x > middle) == (region.view == "front"), region.code
        elif region.code.endswith("-R"):
            assert (x < middle) == (region.view == "front"), region.code
        else:
            assert x == pytest.approx(middle, abs=0.5), region.code


def test_regions_tile_the_body_without_gaps_or_overlaps():
    """Each figure's regions add up to the body outline: an overlap or a gap would change the total."""
    body = area(polygon(SILHOUETTE))
    for view in ("front", "back"):
        total = sum(area(polygon(r.path)) for r in REGIONS if r.view == view)
        assert total == pytest.approx(body, rel=0.002), view


def test_regions_stay_inside_the_viewbox():
    for region in REGIONS:
        for x, y in polygon(region.path):
            assert 0 <= x <= VIEWBOX_WIDTH and 0 <= y <= VIEWBOX_HEIGHT, region.code


def test_region_label():
    assert region_label("B-LOW-BACK-L") == "Low back, left"
    assert region_label("F-SHOULDER-R") == "Front of shoulder, right"
    assert region_label("X-UNKNOWN") == "X-UNKNOWN"


# --- BodyMapForm --------------------------------------------------------------------------------------------------


def test_form_has_four_fields_per_region():
    form = BodyMapForm()
    assert len(form.fields) == 4 * len(REGIONS)
    for role in ("selected", "intensity", "tender", "note"):
        assert f"F-HEAD-{role}" in form.fields
    assert form.fields["F-HEAD-note"].max_length == 200


def test_selected_region_without_intensity_is_refused():
    form = BodyMapForm(post_data(B_LOW_BACK_L={"selected": True, "intensity": ""}))
    assert not form.is_valid()
    assert form.errors["B-LOW-BACK-L-intensity"] == ["Give an intensity from 0 to 10 for Low back, left."]


@pytest.mark.parametrize("intensity", ["11", "-1", "seven"])
def test_bad_intensity_of_a_selected_region_is_refused(intensity):
    form = BodyMapForm(post_data(F_KNEE_R={"selected": True, "intensity": intensity}))
    assert not form.is_valid()
    assert list(form.errors) == ["F-KNEE-R-intensity"]
    assert len(form.errors["F-KNEE-R-intensity"]) == 1


@pytest.mark.parametrize("intensity", ["0", "10"])
def test_intensity_bounds_are_accepted(intensity):
    form = BodyMapForm(post_data(F_KNEE_R={"selected": True, "intensity": intensity}))
    assert form.is_valid(), form.errors
    assert form.cleaned_areas()[0]["intensity"] == int(intensity)


def test_values_of_unselected_regions_are_ignored_even_invalid_ones():
    data = post_data(
        F_HEAD={"intensity": "5", "note": "typed, then unticked"},
        F_NECK={"intensity": "42", "tender": True},
    )
    form = BodyMapForm(data)
    assert form.is_valid(), form.errors
    assert form.cleaned_areas() == []


def test_cleaned_areas_lists_selected_regions_in_region_order():
    # Posted back to front: the result follows REGIONS, not the data.
    data = post_data(
        B_HEEL_L={"selected": True, "intensity": "3"},
        B_LOW_BACK_L={"selected": True, "intensity": "7", "tender": True, "note": "  worse sitting  "},
        F_SHOULDER_R={"selected": True, "intensity": "0", "tender": True},
        F_ABDOMEN={"intensity": "9"},
    )
    form = BodyMapForm(data)
    assert form.is_valid(), form.errors
    assert form.cleaned_areas() == [
        {"region": "F-SHOULDER-R", "intensity": 0, "tender": True, "note": ""},
        {"region": "B-LOW-BACK-L", "intensity": 7, "tender": True, "note": "worse sitting"},
        {"region": "B-HEEL-L", "intensity": 3, "tender": False, "note": ""},
    ]


def test_prefix_is_honoured():
    data = post_data("map", F_CHEST_L={"selected": True, "intensity": "6"})
    assert BodyMapForm(data, prefix="map").cleaned_areas() == [
        {"region": "F-CHEST-L", "intensity": 6, "tender": False, "note": ""}
    ]
    # The same data without the prefix means nothing was marked.
    assert BodyMapForm(post_data(F_CHEST_L={"selected": True, "intensity": "6"}), prefix="map").cleaned_areas() == []


def test_cleaned_areas_of_an_invalid_form_raises():
    form = BodyMapForm(post_data(F_HEAD={"selected": True}))
    with pytest.raises(ValueError):
        form.cleaned_areas()


def test_initial_areas_prefill_the_form():
    areas = [
        {"region": "B-BUTTOCK-R", "intensity": 6, "tender": True, "note": "sitting"},
        SimpleNamespace(region="F-KNEE-L", intensity=3, tender=False, note=""),
    ]
    form = BodyMapForm(initial_areas=areas, prefix="map")
    assert form["B-BUTTOCK-R-selected"].value() is True
    assert form["B-BUTTOCK-R-intensity"].value() == 6
    assert form["B-BUTTOCK-R-tender"].value() is True
    assert form["B-BUTTOCK-R-note"].value() == "sitting"
    assert form["F-KNEE-L-selected"].value() is True
    assert not form["F-HEAD-selected"].value()
    assert not form.is_region_selected("F-HEAD") and form.is_region_selected("F-KNEE-L")
    html = str(form["B-BUTTOCK-R-selected"])
    assert 'name="map-B-BUTTOCK-R-selected"' in html and "checked" in html


def test_initial_areas_do_not_touch_the_callers_initial_dict():
    initial = {"F-HEAD-note": "kept"}
    form = BodyMapForm(initial=initial, initial_areas=[{"region": "F-NECK", "intensity": 1, "tender": False}])
    assert initial == {"F-HEAD-note": "kept"}
    assert form["F-HEAD-note"].value() == "kept"
    assert form["F-NECK-selected"].value() is True


def test_initial_areas_with_an_unknown_region_are_refused():
    with pytest.raises(ValueError, match="X-ELBOW"):
        BodyMapForm(initial_areas=[{"region": "X-ELBOW", "intensity": 1, "tender": False}])


def test_edited_form_posts_back_unchanged():
    """What cleaned_areas returns, fed back as initial_areas and posted as rendered, comes out the same."""
    areas = [
        {"region": "F-HIP-GROIN-L", "intensity": 4, "tender": True, "note": "after walking"},
        {"region": "B-CALF-R", "intensity": 8, "tender": False, "note": ""},
    ]
    form = BodyMapForm(initial_areas=areas, prefix="map")
    data = {}
    for field in form:
        value = field.value()
        if value is True:
            data[field.html_name] = "on"
        elif value not in (None, False, ""):
            data[field.html_name] = str(value)
    assert BodyMapForm(data, prefix="map").cleaned_areas() == areas


# --- {% body_map_input %} -----------------------------------------------------------------------------------------


def test_input_renders_every_region_as_a_shape_and_a_checkbox():
    html = render("{% body_map_input form %}", form=BodyMapForm(prefix="map"))
    for region in REGIONS:
        shapes = elements(html, "path", **{"data-region": region.code})
        assert len(shapes) == 1, region.code
        assert shapes[0]["tabindex"] == "0"
        assert shapes[0]["aria-pressed"] == "false"
        assert shapes[0]["role"] == "button"
        checkboxes = elements(html, "input", name=f"map-{region.code}-selected")
        assert len(checkboxes) == 1 and checkboxes[0]["type"] == "checkbox", region.code
        assert elements(html, "input", name=f"map-{region.code}-intensity", type="number")
        assert elements(html, "input", name=f"map-{region.code}-tender", type="checkbox")
        assert elements(html, "input", name=f"map-{region.code}-note", type="text")
        assert f"<title>{region.label}</title>" in html
    assert 'src="/static/js/bodymap.js"' in html
    assert 'href="/static/css/bodymap.css"' in html


def test_input_shows_selected_regions_and_errors():
    data = post_data(F_CHEST_L={"selected": True, "intensity": "8"}, B_NECK={"selected": True})
    form = BodyMapForm(data)
    form.is_valid()
    html = render("{% body_map_input form %}", form=form)
    chest = elements(html, "path", **{"data-region": "F-CHEST-L"})[0]
    assert chest["aria-pressed"] == "true"
    assert "is-selected" in chest["class"]
    assert INTENSITY_COLOURS[8] in chest["style"]
    assert elements(html, "path", **{"data-region": "F-CHEST-R"})[0]["aria-pressed"] == "false"
    assert "Give an intensity from 0 to 10 for Back of neck." in html
    neck_intensity = elements(html, "input", name="B-NECK-intensity")[0]
    assert "is-invalid" in neck_intensity["class"]
    assert neck_intensity["aria-describedby"] == "id_B-NECK-intensity-error"
    assert 'id="id_B-NECK-intensity-error"' in html


def test_input_escapes_notes():
    form = BodyMapForm(initial_areas=[{"region": "F-HEAD", "intensity": 2, "tender": False, "note": '"><script>x()'}])
    html = render("{% body_map_input form %}", form=form)
    assert "<script>x()" not in html
    assert "&lt;script&gt;x()" in html


# --- {% body_map_view %} ------------------------------------------------------------------------------------------

VIEW_AREAS = [
    {"region": "B-LOW-BACK-L", "intensity": 7, "tender": True, "note": "<script>alert(1)</script>"},
    {"region": "F-SHOULDER-R", "intensity": 9, "tender": False},
    SimpleNamespace(region="F-KNEE-L", intensity=2, tender=True, note=""),
]


def svg_of(html: str) -> str:
    return html[html.index("<svg") : html.index("</svg>") + len("</svg>")]


def test_view_escapes_notes():
    html = render("{% body_map_view areas %}", areas=VIEW_AREAS)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_view_shades_regions_by_intensity():
    html = render("{% body_map_view areas %}", areas=VIEW_AREAS)
    fill = {code: elements(html, "path", **{"data-region": code})[0]["fill"] for code in REGION_BY_CODE}
    assert fill["F-SHOULDER-R"] != fill["F-KNEE-L"]
    assert fill["F-SHOULDER-R"] == INTENSITY_COLOURS[9]
    assert fill["F-KNEE-L"] == INTENSITY_COLOURS[2]
    unmarked = {fill[code] for code in REGION_BY_CODE if code not in {"B-LOW-BACK-L", "F-SHOULDER-R", "F-KNEE-L"}}
    assert len(unmarked) == 1
    assert unmarked.isdisjoint(INTENSITY_COLOURS)


def test_view_marks_tender_points_and_has_a_legend():
    html = render("{% body_map_view areas %}", areas=VIEW_AREAS)
    svg = svg_of(html)
    # Two tender areas, one marker each (ring and dot), plus one marker in the legend.
    assert svg.count("<circle") == 2 * (2 + 1)
    for colour in INTENSITY_COLOURS:
        assert f'fill="{colour}"' in svg
    assert "Tender point" in svg


def test_view_is_plain_self_contained_svg():
    svg = svg_of(render("{% body_map_view areas %}", areas=VIEW_AREAS))
    lowered = svg.lower()
    for forbidden in ("<script", "href=", "xlink:href", "<image", "<style", "style=", "class=", "url(", "http", "<use"):
        assert forbidden not in lowered, forbidden


def test_view_lists_areas_in_region_order():
    html = render("{% body_map_view areas %}", areas=VIEW_AREAS)
    items = re.findall(r"<li>(.*?)</li>", html, flags=re.S)
    assert items == [
        "Front of shoulder, right: 9/10",
        "Front of knee, left: 2/10, tender",
        "Low back, left: 7/10, tender — &lt;script&gt;alert(1)&lt;/script&gt;",
    ]


def test_view_with_no_areas_and_with_an_unknown_region():
    assert "No pain areas marked." in render("{% body_map_view areas %}", areas=[])
    html = render("{% body_map_view areas %}", areas=[{"region": "X-OLD", "intensity": 3, "tender": False}])
    assert "X-OLD: 3/10" in html
    assert 'data-region="X-OLD"' not in html


def test_view_renders_in_weasyprint():
    """The markup is meant for PDFs too: WeasyPrint must lay it out without complaint."""
    weasyprint = pytest.importorskip("weasyprint")
    html = render("{% body_map_view areas %}", areas=VIEW_AREAS)
    pdf = weasyprint.HTML(string=f"<html><body>{html}</body></html>").write_pdf()
    assert pdf.startswith(b"%PDF")
