"""`{% body_map_input form %}` and `{% body_map_view areas %}`: the body map as a form widget and as a picture."""

import json
from collections.abc import Iterable
from typing import Any

from django import template
from django.forms import BoundField
from django.template.loader import render_to_string

from assessments.bodymap import (
    INTENSITY_COLOURS,
    INTENSITY_MAX,
    INTENSITY_MIN,
    NO_INTENSITY_COLOUR,
    REGION_BY_CODE,
    REGIONS,
    SILHOUETTE,
    UNMARKED_COLOUR,
    VIEWBOX,
    VIEWBOX_WIDTH,
    BodyMapForm,
    Region,
    area_value,
    field_names,
    intensity_colour,
    region_centre,
    region_label,
)

register = template.Library()

VIEWS = (("front", "Front"), ("back", "Back"))
# Where the patient's right and left fall on each figure: front view mirrors them.
SIDE_LETTERS = {"front": ("R", "L"), "back": ("L", "R")}


@register.inclusion_tag("assessments/_body_map_input.html")
def body_map_input(form: BodyMapForm) -> dict[str, Any]:
    figures, groups = [], []
    for view, title in VIEWS:
        rows = [_input_row(form, region) for region in REGIONS if region.view == view]
        figures.append({"view": view, "title": title, "rows": rows, "side_letters": SIDE_LETTERS[view]})
        groups.append({"view": view, "title": f"{title} of body", "rows": rows})
    return {
        "form": form,
        "figures": figures,
        "groups": groups,
        "viewbox": VIEWBOX,
        "silhouette": SILHOUETTE,
        "region_count": len(REGIONS),
        "list_id": f"bodymap-list-{form.prefix or 'form'}",
        "colours_json": json.dumps(INTENSITY_COLOURS),
        "no_intensity_colour": NO_INTENSITY_COLOUR,
    }


def _input_row(form: BodyMapForm, region: Region) -> dict[str, Any]:
    names = field_names(region.code)
    selected = form.is_region_selected(region.code)
    intensity = _as_intensity(form[names["intensity"]].value())
    fields = {role: form[name] for role, name in names.items()}
    return {
        "region": region,
        "selected": selected,
        "fill": (intensity_colour(intensity) if selected else ""),
        "fields": fields,
        "widgets": {role: _widget(field) for role, field in fields.items()},
    }


def _widget(field: BoundField) -> str:
    """The field's widget, marked invalid and tied to its error messages when it has errors."""
    if not field.errors:
        return field.as_widget()
    css_class = f"{field.field.widget.attrs.get('class', '')} is-invalid".strip()
    return field.as_widget(attrs={"class": css_class, "aria-describedby": f"{field.auto_id}-error"})


def _as_intensity(value: Any) -> int | None:
    """An intensity from a bound or initial value, or None when there is none or it is not a valid number."""
    number = _as_int(value)
    return number if number is not None and INTENSITY_MIN <= number <= INTENSITY_MAX else None


def body_map_picture(areas: Iterable[Any] | None) -> str:
    """The read-only body map of `areas`, as {% body_map_view %} draws it, for a document built in Python."""
    return render_to_string("assessments/_body_map_view.html", body_map_context(areas))


@register.inclusion_tag("assessments/_body_map_view.html", name="body_map_view")
def body_map_context(areas: Iterable[Any] | None) -> dict[str, Any]:
    by_code = {}
    unknown = []
    for area in areas or ():
        item = _view_item(area)
        if item["code"] in REGION_BY_CODE:
            by_code[item["code"]] = item
        else:
            unknown.append(item)
    figures = []
    for index, (view, title) in enumerate(VIEWS):
        regions = [r for r in REGIONS if r.view == view]
        figures.append(
            {
                "title": title,
                "x": index * VIEWBOX_WIDTH,
                "regions": [_view_region(region, by_code.get(region.code)) for region in regions],
                "markers": [_marker(r.code) for r in regions if r.code in by_code and by_code[r.code]["tender"]],
                "side_letters": SIDE_LETTERS[view],
            }
        )
    # The text list follows REGIONS order, whatever order the areas came in.
    items = [by_code[r.code] for r in REGIONS if r.code in by_code] + unknown
    return {
        "figures": figures,
        "items": items,
        "silhouette": SILHOUETTE,
        "legend": [_legend_step(value, colour) for value, colour in enumerate(INTENSITY_COLOURS)],
        "summary": _summary(len(items)),
    }


def _view_item(area: Any) -> dict[str, Any]:
    code = str(area_value(area, "region", ""))
    intensity = _as_int(area_value(area, "intensity"))
    tender = bool(area_value(area, "tender", False))
    details = [f"{intensity}/10" if intensity is not None else "no intensity given"]
    if tender:
        details.append("tender")
    return {
        "code": code,
        "label": region_label(code),
        "intensity": intensity,
        "tender": tender,
        "note": str(area_value(area, "note", "") or ""),
        "details": ", ".join(details),
    }


def _as_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _view_region(region: Region, item: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "code": region.code,
        "path": region.path,
        "fill": intensity_colour(item["intensity"]) if item else UNMARKED_COLOUR,
        "marked": item is not None,
        "title": f"{item['label']}: {item['details']}" if item else "",
    }


def _marker(code: str) -> dict[str, str]:
    # Numbers go into SVG attributes as plain strings: template filters would localise the decimal point.
    x, y = region_centre(code)
    return {"x": f"{x:.1f}", "y": f"{y:.1f}"}


def _legend_step(value: int, colour: str) -> dict[str, Any]:
    x = 24 + value * 17
    return {"value": value, "colour": colour, "x": x, "label_x": f"{x + 7.5:.1f}"}


def _summary(count: int) -> str:
    if count == 0:
        return "Body map: no pain areas marked."
    return f"Body map: {count} pain area{'s' if count != 1 else ''} marked, listed below."
