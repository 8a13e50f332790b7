"""Server-side SVG charts for a treatment course: pain scores and analgesic use.

The same markup is shown on the course page and embedded in PDFs rendered by WeasyPrint, so it sticks to what
WeasyPrint's SVG renderer understands: inline presentation attributes (no CSS classes, no <style>), no scripts,
no external references, and a generic font family that exists on the server.
"""

from __future__ import annotations

import datetime
import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal

from django.utils import dateformat
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from treatments.outcomes import (
    NRS_MAX,
    NRS_MIN,
    PainChange,
    check_nrs,
    pain_change,
    responder_label,
    responder_status,
)

KINDS = frozenset({"session", "review", "baseline"})
EMPTY_PAIN_MESSAGE = "No scores recorded yet"
EMPTY_ANALGESIC_MESSAGE = "No analgesic use recorded yet"

FONT_FAMILY = "DejaVu Sans, sans-serif"
INK, MUTED, AXIS, GRID = "#222222", "#5f5f5f", "#8a8a8a", "#e4e4e4"
BASELINE_COLOUR, BASELINE_DASH = "#444444", "5 3"
THRESHOLD_COLOUR, THRESHOLD_DASH = "#9a9a9a", "2 3"  # faint: a target to read against, not data
WORSE_COLOUR = "#b42318"  # the documents' alert red: dark enough to read as text on white
# DejaVu Sans glyphs average a little over half an em; used to keep labels from colliding.
CHAR_WIDTH_EM = 0.62
X_PADDING = 14  # keeps the first and last markers clear of the axes
LABEL_SIZE = 10


@dataclass(frozen=True)
class PainPoint:
    """One dot on the pain chart: a session (before and after scores), a review or a pre-treatment baseline."""

    when: datetime.date
    before: int | None
    after: int | None
    label: str = ""
    kind: str = "session"

    def __post_init__(self) -> None:
        check_nrs(self.before, "before")
        check_nrs(self.after, "after")
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {sorted(KINDS)}, not {self.kind!r}")


@dataclass(frozen=True)
class AnalgesicPoint:
    """Reported analgesic use at a point in the course."""

    when: datetime.date
    doses_per_week: Decimal

    def __post_init__(self) -> None:
        if Decimal(self.doses_per_week) < 0:
            raise ValueError(f"doses_per_week cannot be negative: {self.doses_per_week}")


# --- Geometry -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Box:
    """The plot area in pixels; axes, labels and legend sit outside it."""

    left: float
    top: float
    right: float
    bottom: float


@dataclass(frozen=True)
class _Scale:
    """Maps dates (by elapsed days, not by index) and values onto the plot area."""

    box: _Box
    first: datetime.date
    span_days: int
    y_max: float

    @classmethod
    def fit(cls, box: _Box, dates: Sequence[datetime.date], y_max: float) -> _Scale:
        return cls(box, min(dates), (max(dates) - min(dates)).days, y_max)

    def x(self, when: datetime.date) -> float:
        if self.span_days == 0:  # a single day: centre it rather than divide by zero
            return (self.box.left + self.box.right) / 2
        usable = self.box.right - self.box.left - 2 * X_PADDING
        return self.box.left + X_PADDING + usable * (when - self.first).days / self.span_days

    def y(self, value: float) -> float:
        return self.box.bottom - (self.box.bottom - self.box.top) * float(value) / self.y_max


def _chart_id(prefix: str, *content: object) -> str:
    """The prefix of the chart's element ids (aria-labelledby); derived from the content so output is
    deterministic but two different charts on one page don't share ids."""
    return f"{prefix}-{hashlib.sha256(repr(content).encode()).hexdigest()[:10]}"


# --- Markup helpers -------------------------------------------------------------------------------------------------


def _num(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0")


def _attr_value(value: object) -> str:
    return _num(value) if isinstance(value, float) else escape(value)


def _attrs(**attrs: object) -> str:
    """Attribute names use _ for - (stroke_width -> stroke-width); a None value leaves the attribute out."""
    return " ".join(
        f'{name.replace("_", "-")}="{_attr_value(value)}"' for name, value in attrs.items() if value is not None
    )


def _el(tag: str, content: str | None = None, /, **attrs: object) -> str:
    """One element. Content must already be markup: escape text before passing it."""
    opening = " ".join(filter(None, [tag, _attrs(**attrs)]))
    return f"<{opening}/>" if content is None else f"<{opening}>{content}</{tag}>"


def _line(x1: float, y1: float, x2: float, y2: float, colour: str, width: float = 1.0, **attrs: object) -> str:
    return _el("line", x1=x1, y1=y1, x2=x2, y2=y2, stroke=colour, stroke_width=width, **attrs)


def _text(
    x: float, y: float, text: str, *, size: int = LABEL_SIZE, anchor: str = "middle", fill: str = INK, **attrs: object
) -> str:
    return _el("text", escape(text), x=x, y=y, font_size=size, text_anchor=anchor, fill=fill, **attrs)


def _text_width(text: str, size: int = LABEL_SIZE) -> float:
    return len(text) * size * CHAR_WIDTH_EM


def _svg(chart_id: str, width: int, height: int, title: str, desc: str, body: Sequence[str]) -> SafeString:
    root = _attrs(
        xmlns="http://www.w3.org/2000/svg",
        width=width,
        height=height,
        viewBox=f"0 0 {width} {height}",
        role="img",
        aria_labelledby=f"{chart_id}-title {chart_id}-desc",
        font_family=FONT_FAMILY,  # inherited by every <text>, so it is set once here
        font_size=LABEL_SIZE,
    )
    parts = [
        f"<svg {root}>",
        _el("title", escape(title), id=f"{chart_id}-title"),
        _el("desc", escape(desc), id=f"{chart_id}-desc"),
        _el("rect", width=width, height=height, fill="#ffffff"),
        *body,
        "</svg>",
    ]
    # The one place mark_safe is allowed. Every piece of text content (title, desc, labels, tooltips) is passed
    # through escape() where it is built, every attribute value through escape() in _attrs, and the rest is
    # numbers and constants from this module, so the assembled markup is safe by construction.
    return mark_safe("\n".join(part for part in parts if part))  # noqa: S308


def _empty_svg(chart_id: str, width: int, title: str, message: str) -> SafeString:
    height = 48
    body = [
        _el("rect", x=0.5, y=0.5, width=width - 1, height=height - 1, fill="#fafafa", stroke=GRID, rx=4),
        _text(width / 2, height / 2 + 4, message, size=12, fill=MUTED),
    ]
    return _svg(chart_id, width, height, title, f"{title}: {message.lower()}.", body)


# --- Series and markers ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Datum:
    when: datetime.date
    value: float
    label: str = ""
    change: PainChange | None = None  # an after-injection score's change from the score before the injection


@dataclass(frozen=True)
class _Style:
    name: str
    legend: str
    colour: str
    marker: str  # "circle" | "square" | "diamond"
    filled: bool
    dash: str | None = None
    line: bool = True


# Before and after differ in colour, dash and marker shape, so they still read apart when printed in greyscale.
BEFORE = _Style("before", "Before injection", "#1f4e79", "circle", filled=True)
AFTER = _Style("after", "After injection", "#c0504d", "square", filled=False, dash="6 4")
REVIEW = _Style("review", "Review", "#6a3d9a", "diamond", filled=True, line=False)
DOSES = _Style("doses", "Doses per week", "#2a7f62", "circle", filled=True)


def _marker(style: _Style, x: float, y: float, tooltip: str = "") -> str:
    paint = {"fill": style.colour if style.filled else "#ffffff", "stroke": style.colour, "stroke_width": 1.6}
    hover = _el("title", escape(tooltip)) if tooltip else None
    if style.marker == "square":
        return _el("rect", hover, x=x - 3.5, y=y - 3.5, width=7.0, height=7.0, **paint)
    if style.marker == "diamond":
        corners = ((x, y - 5.5), (x + 5.5, y), (x, y + 5.5), (x - 5.5, y))
        return _el("polygon", hover, points=" ".join(f"{_num(cx)},{_num(cy)}" for cx, cy in corners), **paint)
    return _el("circle", hover, cx=x, cy=y, r=3.5, **paint)


def _series(scale: _Scale, style: _Style, data: Sequence[_Datum], describe: str) -> str:
    """A line through the data (when there are two or more points) plus a marker on each point."""
    coords = [(scale.x(d.when), scale.y(d.value)) for d in data]
    parts = []
    if style.line and len(coords) > 1:
        points = " ".join(f"{_num(x)},{_num(y)}" for x, y in coords)
        stroke = {"stroke": style.colour, "stroke_width": 2.0, "stroke_dasharray": style.dash}
        parts.append(_el("polyline", points=points, fill="none", **stroke))
    for datum, (x, y) in zip(data, coords, strict=True):
        parts.append(_marker(style, x, y, _tooltip(datum, describe)))
    return _el("g", "".join(parts), data_series=style.name)


def _tooltip(datum: _Datum, describe: str) -> str:
    prefix = f"{datum.label}, " if datum.label else ""
    change = f" ({datum.change})" if datum.change is not None else ""
    return f"{prefix}{_short_date(datum.when)}: {describe} {_format_number(datum.value)}{change}"


def _format_number(value: float | Decimal) -> str:
    return f"{Decimal(str(value)).normalize():f}"


def _short_date(when: datetime.date) -> str:
    return dateformat.format(when, "j M")  # 3 Nov


# --- Axes, reference lines, legend ----------------------------------------------------------------------------------


def _y_axis(scale: _Scale, ticks: Sequence[Decimal | int]) -> str:
    box, parts = scale.box, []
    for tick in ticks:
        y = scale.y(float(tick))
        parts.append(_line(box.left, y, box.right, y, GRID))
        parts.append(_text(box.left - 6, y + 3.5, _format_number(tick), anchor="end", fill=MUTED))
    parts.append(_line(box.left, box.top, box.left, box.bottom, AXIS))
    parts.append(_line(box.left, box.bottom, box.right, box.bottom, AXIS))
    return _el("g", "".join(parts), data_role="y-axis")


def _thin(positions: Sequence[float], min_gap: float) -> list[int]:
    """Indexes of the labels to keep so neighbours are at least min_gap apart, preferring to show the last one."""
    kept: list[int] = []
    for index, x in enumerate(positions):
        if not kept or x - positions[kept[-1]] >= min_gap:
            kept.append(index)
    last = len(positions) - 1
    if len(kept) > 1 and kept[-1] != last and positions[last] - positions[kept[-2]] >= min_gap:
        kept[-1] = last  # the latest date matters more than the one just before it
    return kept


def _x_axis(scale: _Scale, dates: Sequence[datetime.date], label_y: float) -> str:
    days = sorted(set(dates))
    xs = [scale.x(day) for day in days]
    labels = [_short_date(day) for day in days]
    gap = max(_text_width(label) for label in labels) + 8
    parts = []
    for index in _thin(xs, gap):
        x = xs[index]
        parts.append(_line(x, scale.box.bottom, x, scale.box.bottom + 4, AXIS))
        parts.append(_text(x, label_y, labels[index], fill=MUTED))
    return _el("g", "".join(parts), data_role="x-labels")


def _point_labels(scale: _Scale, points: Sequence[PainPoint], label_y: float) -> str:
    # Points on the same day share one label ("B/S1"), or the later one would hide the first.
    by_day: dict[datetime.date, list[str]] = {}
    for point in points:
        if point.label:
            by_day.setdefault(point.when, []).append(point.label)
    if not by_day:
        return ""
    days = list(by_day)
    labels = ["/".join(by_day[day]) for day in days]
    xs = [scale.x(day) for day in days]
    gap = max(_text_width(label) for label in labels) + 6
    texts = [_text(xs[i], label_y, labels[i], fill=INK, font_weight="bold") for i in _thin(xs, gap)]
    return _el("g", "".join(texts), data_role="point-labels")


def _baseline_lines(scale: _Scale, baseline: int | None) -> str:
    """The baseline (dashed) and the 30% / 50% reduction targets (faint), labelled in the right margin."""
    if baseline is None:
        return ""
    lines = [("baseline", float(baseline), f"Baseline {baseline}", BASELINE_COLOUR, BASELINE_DASH, 1.4)]
    for percent in (30, 50):
        level = baseline * (100 - percent) / 100
        lines.append((f"threshold-{percent}", level, f"{percent}% better", THRESHOLD_COLOUR, THRESHOLD_DASH, 1.0))
    parts, last_label_y, box = [], -math.inf, scale.box
    for role, level, label, colour, dash, weight in lines:
        y = scale.y(level)
        parts.append(_line(box.left, y, box.right, y, colour, weight, stroke_dasharray=dash, data_role=role))
        if y - last_label_y >= LABEL_SIZE + 1:  # a low baseline packs the lines close; skip labels that would overlap
            parts.append(_text(box.right + 5, y + 3.5, label, anchor="start", fill=colour))
            last_label_y = y
    return _el("g", "".join(parts), data_role="reference-lines")


def _legend(entries: Sequence[_Style | tuple[str, str, str]], x: float, y: float) -> str:
    """A row of samples; an entry is a series style or (label, colour, dash) for a plain reference line."""
    parts = []
    for entry in entries:
        label, colour, dash = (entry.legend, entry.colour, entry.dash) if isinstance(entry, _Style) else entry
        if not isinstance(entry, _Style) or entry.line:
            # 26px with the marker centred makes a "6 4" dash pattern look the same on both sides of the marker.
            parts.append(_line(x, y, x + 26, y, colour, 2.0, stroke_dasharray=dash))
        if isinstance(entry, _Style):
            parts.append(_marker(entry, x + 13, y))
        parts.append(_text(x + 32, y + 3.5, label, anchor="start"))
        x += 32 + _text_width(label) + 16
    return _el("g", "".join(parts), data_role="legend")


def _heading(title: str, x: float) -> str:
    return _text(x, 18, title, size=13, anchor="start", font_weight="bold")


# --- Pain chart -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _PainSeries:
    before: tuple[_Datum, ...]
    after: tuple[_Datum, ...]
    reviews: tuple[_Datum, ...]
    sessions: int

    @property
    def worse_after(self) -> tuple[_Datum, ...]:
        """After-injection scores higher than the score before the same injection."""
        return tuple(datum for datum in self.after if datum.change is not None and datum.change.is_worse)

    @classmethod
    def split(cls, points: Sequence[PainPoint]) -> _PainSeries:
        """Points must already be in date order."""
        before, after, reviews = [], [], []
        for point in points:
            # Reviews and baselines carry one score, in whichever field the caller had to hand.
            single = point.before if point.before is not None else point.after
            if point.kind == "session" and point.before is not None:
                before.append(_Datum(point.when, point.before, point.label))
            if point.kind == "session" and point.after is not None:
                change = pain_change(point.before, point.after)
                after.append(_Datum(point.when, point.after, point.label, change))
            if point.kind == "baseline" and single is not None:
                before.append(_Datum(point.when, single, point.label))  # pain before any injection starts the line
            if point.kind == "review" and single is not None:
                reviews.append(_Datum(point.when, single, point.label))  # a review stands apart from the lines
        return cls(tuple(before), tuple(after), tuple(reviews), sum(p.kind == "session" for p in points))


def pain_chart_svg(
    points: Sequence[PainPoint],
    *,
    baseline: int | None = None,
    width: int = 640,
    height: int = 260,
    title: str = "Pain over the course",
) -> SafeString:
    """Before/after NRS scores per injection session against real time, with reviews and the responder thresholds."""
    check_nrs(baseline, "baseline")
    ordered = sorted(points, key=lambda p: p.when)  # stable, so same-day entries keep the caller's order
    series = _PainSeries.split(ordered)
    chart_id = _chart_id("pain-chart", tuple(ordered), baseline, width, height, title)
    if not (series.before or series.after or series.reviews):
        return _empty_svg(chart_id, width, title, EMPTY_PAIN_MESSAGE)
    box = _Box(left=40, top=64, right=width - (74 if baseline is not None else 22), bottom=height - 38)
    scale = _Scale.fit(box, [p.when for p in ordered], y_max=NRS_MAX)
    body = [
        _y_axis(scale, range(NRS_MIN, NRS_MAX + 1, 2)),
        _text(box.left - 6, box.top - 8, "NRS", anchor="end", fill=MUTED),
        _baseline_lines(scale, baseline),
        _point_labels(scale, ordered, label_y=box.bottom + 15),
        _x_axis(scale, [p.when for p in ordered], label_y=box.bottom + 29),
        _series(scale, BEFORE, series.before, "pain before injection"),
        _series(scale, AFTER, series.after, "pain after injection"),
        _worse_flags(scale, series.worse_after),
        _series(scale, REVIEW, series.reviews, "pain at review") if series.reviews else "",
        _heading(title, x=10),
        _legend(_pain_legend(series, baseline), x=12, y=38),
    ]
    return _svg(chart_id, width, height, title, _pain_description(series, baseline), body)


def _worse_flags(scale: _Scale, worse: Sequence[_Datum]) -> str:
    """The word "worse" in red above each after-injection score that rose: a word, so colour is not the only sign."""
    if not worse:
        return ""
    flags = [
        _text(scale.x(d.when), scale.y(d.value) - 8, "worse", fill=WORSE_COLOUR, font_weight="bold") for d in worse
    ]
    return _el("g", "".join(flags), data_role="worse-flags")


def _pain_legend(series: _PainSeries, baseline: int | None) -> list[_Style | tuple[str, str, str]]:
    entries: list[_Style | tuple[str, str, str]] = [BEFORE, AFTER]
    if series.reviews:
        entries.append(REVIEW)
    if baseline is not None:
        entries += [
            ("Baseline", BASELINE_COLOUR, BASELINE_DASH),
            ("30% / 50% reduction", THRESHOLD_COLOUR, THRESHOLD_DASH),
        ]
    return entries


def _pain_description(series: _PainSeries, baseline: int | None) -> str:
    sentences = [
        _trend("Pain before injection", series.before, f" over {_plural(series.sessions, 'session')}"),
        _trend("Pain shortly after injection", series.after, ""),
    ]
    sentences += [
        f"Pain was higher straight after the injection at {d.label or _short_date(d.when)} ({d.change})."
        for d in series.worse_after
    ]
    if series.reviews:
        latest = _format_number(series.reviews[-1].value)
        sentences.append(f"{_plural(len(series.reviews), 'review')}, latest score {latest}.")
    if baseline is not None:
        sentences.append(_baseline_sentence(baseline, series))
    return " ".join(sentence for sentence in sentences if sentence)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _trend(subject: str, data: Sequence[_Datum], span: str) -> str:
    if not data:
        return ""
    first, last = _format_number(data[0].value), _format_number(data[-1].value)
    if len(data) == 1:
        return f"{subject} was {first}{span}."
    if data[-1].value == data[0].value:
        return f"{subject} stayed at {first}{span}."
    verb = "fell" if data[-1].value < data[0].value else "rose"
    return f"{subject} {verb} from {first} to {last}{span}."


def _baseline_sentence(baseline: int, series: _PainSeries) -> str:
    # Like the course page: compare with the newest score taken before an injection or at a review, never with
    # an after-injection score (that would flatter the result).
    comparable = sorted([*series.before, *series.reviews], key=lambda d: d.when)
    latest = int(comparable[-1].value) if comparable else None
    change = pain_change(baseline, latest)
    if change is None:
        return f"Baseline pain {baseline}."
    status = responder_label(responder_status(baseline, latest))
    return f"Baseline pain {baseline}; latest score {latest}, {change} (response: {status})."


# --- Analgesic chart --------------------------------------------------------------------------------------------------


def analgesic_chart_svg(
    points: Sequence[AnalgesicPoint],
    *,
    width: int = 640,
    height: int = 160,
    title: str = "Analgesic use (doses per week)",
) -> SafeString:
    """Doses per week against real time, on an axis rounded up to a tidy maximum."""
    ordered = sorted(points, key=lambda p: p.when)
    chart_id = _chart_id("analgesic-chart", tuple(ordered), width, height, title)
    if not ordered:
        return _empty_svg(chart_id, width, title, EMPTY_ANALGESIC_MESSAGE)
    top, step = _nice_axis(max(Decimal(p.doses_per_week) for p in ordered))
    box = _Box(left=40, top=34, right=width - 22, bottom=height - 24)
    scale = _Scale.fit(box, [p.when for p in ordered], y_max=float(top))
    data = [_Datum(p.when, float(p.doses_per_week)) for p in ordered]
    body = [
        _y_axis(scale, [step * i for i in range(int(top / step) + 1)]),
        _x_axis(scale, [p.when for p in ordered], label_y=box.bottom + 15),
        _series(scale, DOSES, data, "doses per week"),
        _heading(title, x=10),
    ]
    return _svg(chart_id, width, height, title, _analgesic_description(ordered), body)


def _nice_axis(peak: Decimal) -> tuple[Decimal, Decimal]:
    """The axis maximum and tick step: the step is 1, 2 or 5 times a power of ten, with at most five steps."""
    peak = max(peak, Decimal(1))
    for power in (peak.adjusted() - 1, peak.adjusted()):
        for multiple in (1, 2, 5):
            step = Decimal(multiple).scaleb(power)
            if peak / step <= 5:
                return (peak / step).to_integral_value(rounding=ROUND_CEILING) * step, step
    raise AssertionError("unreachable: 2 x 10^adjusted always fits")  # pragma: no cover


def _analgesic_description(ordered: Sequence[AnalgesicPoint]) -> str:
    first, last = ordered[0], ordered[-1]
    start, end = _format_number(first.doses_per_week), _format_number(last.doses_per_week)
    when = f"between {dateformat.format(first.when, 'j M Y')} and {dateformat.format(last.when, 'j M Y')}"
    if len(ordered) == 1:
        return f"Analgesic use was {start} doses per week on {dateformat.format(first.when, 'j M Y')}."
    if first.doses_per_week == last.doses_per_week:
        return f"Analgesic use stayed at {start} doses per week {when}."
    verb = "fell" if last.doses_per_week < first.doses_per_week else "rose"
    return f"Analgesic use {verb} from {start} to {end} doses per week {when}."
