"""The outcomes report's chart: the share of responders in each group, as horizontal bars labelled with the count.

Here are the numbers and words; the markup is the template outcomes/_bar_chart.svg, which keeps to the course
chart's rules (treatments/charts.py): inline presentation attributes, no scripts or external references, a title
and a text description that say everything the bars show, for a screen reader or a reader without the picture.
"""

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from django.template.loader import render_to_string
from django.utils.safestring import SafeString

from outcomes.report import TOO_FEW, Rate
from treatments.charts import CHAR_WIDTH_EM, LABEL_SIZE

BAR_COLOUR = "#1f4e79"  # the course chart's "before injection" blue
ROW_HEIGHT = 24
BAR_HEIGHT = 14
TOP = 44  # below the title and the scale's labels
LABEL_WIDTH_MAX = 220
VALUE_WIDTH = 96  # room for "123/456 (100%)" right of the longest bar
TICKS = (0, 25, 50, 75, 100)


@dataclass(frozen=True)
class Bar:
    """One group: its name and its rate, or None when the group has too few courses to show one."""

    label: str
    rate: Rate | None


def _num(value: float) -> str:
    """A coordinate to a tenth of a pixel, without a trailing ".0" (as the course chart writes them)."""
    return f"{value:.1f}".removesuffix(".0")


def _head(width: int, height: int, title: str, bars: Sequence[Bar]) -> dict:
    """The chart's size, title and id: the id prefixes its elements' ids (aria-labelledby), derived from what it
    shows, so the markup is the same for the same figures and two charts on one page never share ids."""
    digest = hashlib.sha256(repr((tuple(bars), width, height, title)).encode()).hexdigest()[:10]
    return {"id": f"bar-chart-{digest}", "width": width, "height": height, "title": title}


def _truncated(label: str, width: float) -> str:
    """The label cut to fit `width` pixels (with an ellipsis); the description keeps it whole."""
    fits = int(width / (LABEL_SIZE * CHAR_WIDTH_EM))
    return label if len(label) <= fits else label[: max(fits - 1, 1)] + "…"


def _value_text(rate: Rate | None) -> str:
    return TOO_FEW if rate is None else str(rate)


def describe(title: str, bars: Sequence[Bar]) -> str:
    """Every bar in words: "Low back pain: 6 of 10 (60%). Osteoarthritis: too few courses to show a rate."."""
    parts = []
    for bar in bars:
        if bar.rate is None:
            parts.append(f"{bar.label}: too few courses to show a rate.")
        elif bar.rate.percent is None:
            parts.append(f"{bar.label}: no course to count.")
        else:
            parts.append(f"{bar.label}: {bar.rate.numerator} of {bar.rate.denominator} ({bar.rate.percent}%).")
    return f"{title}. " + " ".join(parts) if parts else f"{title}: no courses in this period."


def bar_chart_svg(bars: Sequence[Bar], *, title: str, width: int = 640) -> SafeString:
    """Horizontal bars from 0 to 100%, one per group in the order given, each labelled with its n/N (%)."""
    longest = max((len(bar.label) for bar in bars), default=0) * LABEL_SIZE * CHAR_WIDTH_EM
    label_width = min(LABEL_WIDTH_MAX, longest) + 12
    left, right = label_width, width - VALUE_WIDTH
    height = TOP + max(len(bars), 1) * ROW_HEIGHT + 8
    head = _head(width, height, title, bars)

    def x(percent: int) -> float:
        return left + (right - left) * percent / 100

    rows = []
    for index, bar in enumerate(bars):
        top = TOP + index * ROW_HEIGHT + (ROW_HEIGHT - BAR_HEIGHT) / 2
        percent = bar.rate.percent if bar.rate is not None else None
        end = x(percent) if percent is not None else left
        rows.append({
            "label": _truncated(bar.label, label_width - 12), "label_x": _num(left - 6),
            "text_y": _num(top + BAR_HEIGHT / 2 + 3.5), "bar_y": _num(top), "bar_width": _num(end - left),
            "value": _value_text(bar.rate), "value_x": _num(end + 5), "muted": percent is None,
        })  # fmt: skip
    ticks = [{"x": _num(x(tick)), "label": f"{tick}%"} for tick in TICKS]
    context = {
        **head, "desc": describe(title, bars), "rows": rows, "ticks": ticks, "left": _num(left),
        "plot_top": TOP - 4, "plot_bottom": _num(height - 8), "bar_height": BAR_HEIGHT, "colour": BAR_COLOUR,
    }  # fmt: skip
    return render_to_string("outcomes/_bar_chart.svg", context)
