"""Server-side SVG charts for a treatment course: pain scores and analgesic use.

Here are the numbers (scales, positions, ticks, labels' text, the description); the markup is the template
treatments/_chart.svg. The same markup is shown on the course page and embedded in PDFs rendered by WeasyPrint,
so it sticks to what WeasyPrint's SVG renderer understands: inline presentation attributes (no CSS classes, no
<style>), no scripts, no external references, and a generic font family that exists on the server.
"""

from __future__ import annotations

import datetime
import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal

from django.template.loader import render_to_string
from django.utils import dateformat
from django.utils.safestring import SafeString

from treatments.outcomes import NRS_MAX, NRS_MIN, PainChange, check_nrs, pain_change, responder_label, responder_status

# "patient": pain now as the patient reported it (a check-in or an answer between visits), in `before`.
KINDS = frozenset({"session", "review", "baseline", "patient"})
EMPTY_PAIN_MESSAGE = "No scores recorded yet"
EMPTY_ANALGESIC_MESSAGE = "No analgesic use recorded yet"

WORSE_COLOUR = "#b42318"  # the documents' alert red: dark enough to read as text on white
# DejaVu Sans glyphs average a little over half an em; used to keep labels from colliding.
CHAR_WIDTH_EM = 0.62
X_PADDING = 14  # keeps the first and last markers clear of the axes
LABEL_SIZE = 10


@dataclass(frozen=True)
class PainPoint:
    """One dot on the pain chart: a session (before and after scores), a review, a pre-treatment baseline or pain
    the patient reported."""

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
class _Scale:
    """Maps dates (by elapsed days, not by index) and values onto the plot area, whose edges are in pixels; axes,
    labels and legend sit outside it."""

    left: float
    top: float
    right: float
    bottom: float
    first: datetime.date
    span_days: int
    y_max: float

    @classmethod
    def fit(cls, dates: Sequence[datetime.date], y_max: float, **edges: float) -> _Scale:
        return cls(**edges, first=min(dates), span_days=(max(dates) - min(dates)).days, y_max=y_max)

    def x(self, when: datetime.date) -> float:
        if self.span_days == 0:  # a single day: centre it rather than divide by zero
            return (self.left + self.right) / 2
        usable = self.right - self.left - 2 * X_PADDING
        return self.left + X_PADDING + usable * (when - self.first).days / self.span_days

    def y(self, value: float | Decimal) -> float:
        return self.bottom - (self.bottom - self.top) * float(value) / self.y_max

    def frame(self) -> dict:
        """The plot area's edges, and where the labels around it go."""
        edges = {"left": self.left, "top": self.top, "right": self.right, "bottom": self.bottom}
        around = {"tick_label_x": self.left - 6, "unit_y": self.top - 8, "tick_end": self.bottom + 4}
        return {name: _num(value) for name, value in {**edges, **around, "note_x": self.right + 5}.items()}


def _head(prefix: str, width: int, height: int, title: str, *content: object) -> dict:
    """The chart's id, size and title. The id prefixes the chart's element ids (aria-labelledby); derived from the
    content so output is deterministic but two different charts on one page don't share ids."""
    digest = hashlib.sha256(repr((*content, width, height, title)).encode()).hexdigest()[:10]
    return {"id": f"{prefix}-{digest}", "width": width, "height": height, "title": title}


def _num(value: float) -> str:
    """A coordinate as the markup gives it: to a tenth of a pixel, without a trailing ".0"."""
    return f"{value:.1f}".removesuffix(".0")


def _points(coords: Sequence[tuple[float, float]]) -> str:
    return " ".join(f"{_num(x)},{_num(y)}" for x, y in coords)


def _text_width(text: str) -> float:
    return len(text) * LABEL_SIZE * CHAR_WIDTH_EM


def _render(head: dict, desc: str, **parts: object) -> SafeString:
    """The chart: `head` is its id, width, height and title; the parts are the numbers and words drawn."""
    return render_to_string("treatments/_chart.svg", {**head, "desc": desc, **parts})


def _empty_svg(head: dict, message: str) -> SafeString:
    empty = {"message": message, "width": head["width"] - 1, "x": _num(head["width"] / 2)}
    return _render({**head, "height": 48}, f"{head['title']}: {message.lower()}.", empty=empty)


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
    marker: str  # "circle" | "square" | "diamond" | "triangle" | "" for a plain line
    filled: bool = False
    dash: str | None = None
    line: bool = True

    @property
    def fill(self) -> str:
        return self.colour if self.filled else "#ffffff"


# Before and after differ in colour, dash and marker shape, so they still read apart when printed in greyscale.
BEFORE = _Style("before", "Before injection", "#1f4e79", "circle", filled=True)
AFTER = _Style("after", "After injection", "#c0504d", "square", filled=False, dash="6 4")
REVIEW = _Style("review", "Review", "#6a3d9a", "diamond", filled=True, line=False)
# What the patient reported stands apart from the clinic's scores: its own colour and an open triangle, no line.
PATIENT = _Style("patient", "Reported by the patient", "#a14f00", "triangle", filled=False, line=False)
DOSES = _Style("doses", "Doses per week", "#2a7f62", "circle", filled=True)
BASELINE = _Style("baseline", "Baseline", "#444444", "", dash="5 3")
THRESHOLD = _Style("threshold", "30% / 50% reduction", "#9a9a9a", "", dash="2 3")  # faint: a target, not data


def _marker(style: _Style, x: float, y: float, tooltip: str = "") -> dict:
    """Where the marker's shape (style.marker) goes: its centre, its corner as a square, its corners as a diamond
    or a triangle (pointing up, its corners' mean at the centre)."""
    diamond = ((x, y - 5.5), (x + 5.5, y), (x, y + 5.5), (x - 5.5, y))
    triangle = ((x, y - 5.5), (x + 5.5, y + 2.75), (x - 5.5, y + 2.75))
    corner = {"left": _num(x - 3.5), "top": _num(y - 3.5)}
    shapes = {"diamond": _points(diamond), "triangle": _points(triangle)}
    return {"style": style, "x": _num(x), "y": _num(y), **corner, **shapes, "tooltip": tooltip}


def _series(scale: _Scale, style: _Style, data: Sequence[_Datum], describe: str, **extra: object) -> dict:
    """A line through the data (when there are two or more points) plus a marker on each point."""
    coords = [(scale.x(d.when), scale.y(d.value)) for d in data]
    markers = [_marker(style, x, y, _tooltip(d, describe)) for d, (x, y) in zip(data, coords, strict=True)]
    line = _points(coords) if style.line and len(coords) > 1 else ""
    return {"style": style, "line": line, "markers": markers, **extra}


def _tooltip(datum: _Datum, describe: str) -> str:
    prefix = f"{datum.label}, " if datum.label else ""
    change = f" ({datum.change})" if datum.change is not None else ""
    return f"{prefix}{_short_date(datum.when)}: {describe} {_format_number(datum.value)}{change}"


def _format_number(value: float | Decimal) -> str:
    return f"{Decimal(str(value)).normalize():f}"


def _short_date(when: datetime.date) -> str:
    return dateformat.format(when, "j M")  # 3 Nov


# --- Axes, reference lines, legend ----------------------------------------------------------------------------------


def _y_ticks(scale: _Scale, ticks: Sequence[Decimal | int]) -> list[dict]:
    return [{"y": _num(scale.y(t)), "label_y": _num(scale.y(t) + 3.5), "label": _format_number(t)} for t in ticks]


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


def _labels(scale: _Scale, by_day: dict[datetime.date, str], padding: float) -> list[dict]:
    """Labels along the x axis, thinned so that none overlaps the next."""
    xs = [scale.x(day) for day in by_day]
    texts = list(by_day.values())
    gap = max(_text_width(text) for text in texts) + padding
    return [{"x": _num(xs[i]), "text": texts[i]} for i in _thin(xs, gap)]


def _x_labels(scale: _Scale, dates: Sequence[datetime.date]) -> list[dict]:
    return _labels(scale, {day: _short_date(day) for day in sorted(set(dates))}, padding=8)


def _point_labels(scale: _Scale, points: Sequence[PainPoint]) -> list[dict]:
    # Points on the same day share one label ("B/S1"), or the later one would hide the first.
    by_day: dict[datetime.date, list[str]] = {}
    for point in points:
        if point.label:
            by_day.setdefault(point.when, []).append(point.label)
    return _labels(scale, {day: "/".join(labels) for day, labels in by_day.items()}, padding=6) if by_day else []


def _reference_lines(scale: _Scale, baseline: int | None) -> list[dict]:
    """The baseline (dashed) and the 30% / 50% reduction targets (faint), labelled in the right margin."""
    if baseline is None:
        return []
    lines = [("baseline", float(baseline), f"Baseline {baseline}", BASELINE, "1.4")]
    for percent in (30, 50):
        level = baseline * (100 - percent) / 100
        lines.append((f"threshold-{percent}", level, f"{percent}% better", THRESHOLD, "1"))
    shown, last_label_y = [], -math.inf
    for role, level, label, style, weight in lines:
        y = scale.y(level)
        fits = (
            y - last_label_y >= LABEL_SIZE + 1
        )  # a low baseline packs the lines close; skip labels that would overlap
        last_label_y = y if fits else last_label_y
        line = {"role": role, "style": style, "weight": weight, "y": _num(y), "label_y": _num(y + 3.5)}
        shown.append({**line, "label": label if fits else ""})
    return shown


LEGEND_ROW = 16  # pixels between rows of the legend


def _legend(entries: Sequence[_Style], width: float, y: float = 38) -> list[dict]:
    """Samples in rows: a line (26px, so a "6 4" dash looks the same either side of the marker) and a marker, then
    the name; an entry that would run past `width` starts the next row."""
    x, row = 12.0, []
    for style in entries:
        span = 32 + _text_width(style.legend)
        if x > 12 and x + span > width - 4:
            x, y = 12.0, y + LEGEND_ROW
        sample = {"x": _num(x), "line_end": _num(x + 26), "y": _num(y), "marker": _marker(style, x + 13, y)}
        row.append({"style": style, "label_x": _num(x + 32), "label_y": _num(y + 3.5), "row_y": y, **sample})
        x += span + 16
    return row


# --- Pain chart -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _PainSeries:
    before: tuple[_Datum, ...]
    after: tuple[_Datum, ...]
    reviews: tuple[_Datum, ...]
    reported: tuple[_Datum, ...]
    # What the baseline is compared with, in the points' order: scores before an injection (and any baseline
    # point), at a review or reported by the patient; never an after-injection score (that would flatter).
    comparable: tuple[_Datum, ...]
    sessions: int

    @property
    def worse_after(self) -> tuple[_Datum, ...]:
        """After-injection scores higher than the score before the same injection."""
        return tuple(datum for datum in self.after if datum.change is not None and datum.change.is_worse)

    @classmethod
    def split(cls, points: Sequence[PainPoint]) -> _PainSeries:
        """Points must already be in date order."""
        before: list[_Datum] = []
        after: list[_Datum] = []
        reviews: list[_Datum] = []
        reported: list[_Datum] = []
        comparable: list[_Datum] = []
        for point in points:
            # Reviews, baselines and reports carry one score, in whichever field the caller had to hand.
            single = point.before if point.before is not None else point.after
            datum = _Datum(point.when, single, point.label) if single is not None else None
            if point.kind == "session" and point.before is not None:
                before.append(_Datum(point.when, point.before, point.label))
                comparable.append(before[-1])
            if point.kind == "session" and point.after is not None:
                change = pain_change(point.before, point.after)
                after.append(_Datum(point.when, point.after, point.label, change))
            if datum is not None and point.kind != "session":
                # Pain before any injection starts the line; a review, or what the patient reported, stands apart.
                {"baseline": before, "review": reviews, "patient": reported}[point.kind].append(datum)
                comparable.append(datum)
        sessions = sum(p.kind == "session" for p in points)
        return cls(tuple(before), tuple(after), tuple(reviews), tuple(reported), tuple(comparable), sessions)


def pain_chart_svg(
    points: Sequence[PainPoint],
    *,
    baseline: int | None = None,
    width: int = 640,
    height: int = 260,
    title: str = "Pain over the course",
) -> SafeString:
    """Before/after NRS scores per injection session against real time, with reviews, what the patient reported
    and the responder thresholds. Points are drawn in date order; points of one day keep the caller's order (which
    decides the latest score the description compares with the baseline)."""
    check_nrs(baseline, "baseline")
    ordered = sorted(points, key=lambda p: p.when)  # stable, so same-day entries keep the caller's order
    series = _PainSeries.split(ordered)
    head = _head("pain-chart", width, height, title, tuple(ordered), baseline)
    if not (series.before or series.after or series.reviews or series.reported):
        return _empty_svg(head, EMPTY_PAIN_MESSAGE)
    extra = [style for style, data in ((REVIEW, series.reviews), (PATIENT, series.reported)) if data]
    legend = _legend([BEFORE, AFTER, *extra, *([BASELINE, THRESHOLD] if baseline is not None else [])], width)
    top = legend[-1]["row_y"] + 26  # the plot starts below the legend's last row
    right = width - (74 if baseline is not None else 22)
    scale = _Scale.fit([p.when for p in ordered], NRS_MAX, left=40, top=top, right=right, bottom=height - 38)
    after = _series(scale, AFTER, series.after, "pain after injection", flags=_worse_flags(scale, series.worse_after))
    reviews = [_series(scale, REVIEW, series.reviews, "pain at review")] if series.reviews else []
    patient = [_series(scale, PATIENT, series.reported, "pain now, reported by the patient")] if series.reported else []
    return _render(
        head,
        _pain_description(series, baseline),
        frame=scale.frame(),
        y_ticks=_y_ticks(scale, range(NRS_MIN, NRS_MAX + 1, 2)),
        y_unit="NRS",
        reference_lines=_reference_lines(scale, baseline),
        point_labels=_point_labels(scale, ordered),
        point_label_y=_num(scale.bottom + 15),
        x_labels=_x_labels(scale, [p.when for p in ordered]),
        x_label_y=_num(scale.bottom + 29),
        series=[_series(scale, BEFORE, series.before, "pain before injection"), after, *reviews, *patient],
        legend=legend,
        worse_colour=WORSE_COLOUR,
    )


def _worse_flags(scale: _Scale, worse: Sequence[_Datum]) -> list[dict]:
    """The word "worse" in red above each after-injection score that rose: a word, so colour is not the only sign."""
    return [{"x": _num(scale.x(d.when)), "y": _num(scale.y(d.value) - 8)} for d in worse]


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
    reports = f" over {_plural(len(series.reported), 'report')}"
    sentences.append(_trend("Pain now as reported by the patient", series.reported, reports))
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
    # Like the course page: compare with the newest score taken before an injection, at a review or reported by
    # the patient, never with an after-injection score (that would flatter the result).
    latest = int(series.comparable[-1].value) if series.comparable else None
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
    head = _head("analgesic-chart", width, height, title, tuple(ordered))
    if not ordered:
        return _empty_svg(head, EMPTY_ANALGESIC_MESSAGE)
    top, step = _nice_axis(max(Decimal(p.doses_per_week) for p in ordered))
    scale = _Scale.fit([p.when for p in ordered], float(top), left=40, top=34, right=width - 22, bottom=height - 24)
    data = [_Datum(p.when, float(p.doses_per_week)) for p in ordered]
    return _render(
        head,
        _analgesic_description(ordered),
        frame=scale.frame(),
        y_ticks=_y_ticks(scale, [step * i for i in range(int(top / step) + 1)]),
        x_labels=_x_labels(scale, [p.when for p in ordered]),
        x_label_y=_num(scale.bottom + 15),
        series=[_series(scale, DOSES, data, "doses per week")],
    )


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
