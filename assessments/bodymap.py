"""The body map: named regions of the body, front and back, and the form that records pain in them.

Region codes are stored in the database, so they never change once released; labels may be reworded.
Every region's `path` is SVG path data in the same per-figure box (VIEWBOX: 200 wide, 440 high, the body's
midline at x=100). The front and the back figure each use the whole box; pages place them side by side.

The shapes are computed once at import from a few contours of the body's right half (as the viewer sees it)
and their mirror images. Each contour is a smooth curve through control points, kept as cubic Béziers, so two
neighbouring regions share exactly the same edge and together draw a clean outline of the body.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from functools import cache
from typing import Any, Literal, NamedTuple

from django import forms

View = Literal["front", "back"]
Point = tuple[float, float]

VIEWBOX_WIDTH = 200
VIEWBOX_HEIGHT = 440
VIEWBOX = f"0 0 {VIEWBOX_WIDTH} {VIEWBOX_HEIGHT}"
MIDLINE = VIEWBOX_WIDTH / 2

INTENSITY_MIN = 0
INTENSITY_MAX = 10
# A sequential yellow-orange-red scale (after ColorBrewer's YlOrRd): it stays ordered in greyscale print and
# for the common red-green colour deficiencies. Index = intensity.
INTENSITY_COLOURS: tuple[str, ...] = (
    "#fff3b0",
    "#fee38b",
    "#fed06a",
    "#feb24c",
    "#fd9a43",
    "#fd7d39",
    "#f65a2e",
    "#e6352a",
    "#cc1525",
    "#a50026",
    "#730022",
)
# A region marked before its intensity is typed (or odd stored data): blue, plainly off the pain scale.
NO_INTENSITY_COLOUR = "#9ec5fe"
UNMARKED_COLOUR = "#ffffff"


class Region(NamedTuple):
    """A named area of the body on one figure; `code` is what the database stores."""

    code: str
    label: str
    view: View
    path: str


# --- Geometry ---------------------------------------------------------------------------------------------------

Segment = tuple[Point, Point, Point, Point]  # cubic Bézier: start, control 1, control 2, end


def _mirror(point: Point) -> Point:
    return (2 * MIDLINE - point[0], point[1])


def _catmull_rom(points: list[Point], closed: bool) -> list[Segment]:
    """Cubic Béziers of the centripetal Catmull-Rom spline through `points`.

    Centripetal (alpha = 0.5) because the control points are unevenly spaced: the uniform spline would loop
    or overshoot where a long span meets a short one (the hands, the feet).
    """
    count = len(points)

    def at(index: int) -> Point:
        if closed:
            return points[index % count]
        if index < 0:  # open ends: reflect the neighbour, so the curve leaves the end point straight
            return (2 * points[0][0] - points[1][0], 2 * points[0][1] - points[1][1])
        if index >= count:
            return (2 * points[-1][0] - points[-2][0], 2 * points[-1][1] - points[-2][1])
        return points[index]

    segments = []
    for i in range(count if closed else count - 1):
        p0, p1, p2, p3 = at(i - 1), at(i), at(i + 1), at(i + 2)
        d1, d2, d3 = (math.dist(a, b) ** 0.5 for a, b in ((p0, p1), (p1, p2), (p2, p3)))
        c1 = tuple(
            (d1 * d1 * b - d2 * d2 * a + (2 * d1 * d1 + 3 * d1 * d2 + d2 * d2) * m) / (3 * d1 * (d1 + d2))
            for a, m, b in zip(p0, p1, p2, strict=True)
        )
        c2 = tuple(
            (d3 * d3 * a - d2 * d2 * b + (2 * d3 * d3 + 3 * d3 * d2 + d2 * d2) * m) / (3 * d3 * (d3 + d2))
            for a, m, b in zip(p1, p2, p3, strict=True)
        )
        segments.append((p1, c1, c2, p2))
    return segments


class _Contour:
    """A smooth curve through named control points; regions follow it between two of its points."""

    def __init__(self, points: Iterable[Point], closed: bool = False) -> None:
        self.points = list(points)
        self.closed = closed
        self.index = {point: i for i, point in enumerate(self.points)}
        if len(self.index) != len(self.points):
            raise ValueError("A contour cannot pass the same point twice.")
        self.segments = _catmull_rom(self.points, closed)

    def mirrored(self) -> _Contour:
        return _Contour([_mirror(p) for p in self.points], self.closed)

    def between(self, start: Point, end: Point) -> list[Segment]:
        """The segments from `start` to `end`: along the contour's direction when it can, else backwards."""
        i, j = self.index[start], self.index[end]
        if self.closed:
            # Closed curves always go forwards (clockwise on screen), wrapping round; start == end is a full turn.
            steps = (j - i) % len(self.points) or len(self.points)
            return [self.segments[(i + k) % len(self.points)] for k in range(steps)]
        if i <= j:
            return self.segments[i:j]
        return [(d, c2, c1, a) for a, c1, c2, d in reversed(self.segments[j:i])]


class _Pen:
    """Draws one closed region: follows contours and straight lines from point to point."""

    def __init__(self, start: Point) -> None:
        self.at = start
        self.commands = [f"M{_xy(start)}"]

    def follow(self, contour: _Contour, to: Point) -> _Pen:
        for _, c1, c2, end in contour.between(self.at, to):
            self.commands.append(f"C{_xy(c1)} {_xy(c2)} {_xy(end)}")
        self.at = to
        return self

    def line(self, *points: Point) -> _Pen:
        for point in points:
            self.commands.append(f"L{_xy(point)}")
            self.at = point
        return self

    def close(self) -> str:
        return " ".join([*self.commands, "Z"])


def _xy(point: Point) -> str:
    return ",".join(f"{round(v, 1):g}" for v in point)


# Control points of the right half as the viewer sees it (x > 100). Only the points that a region boundary
# starts or ends at are named; the others just shape the curve.
JAW = (109.5, 57.5)
CHIN = (100.0, 61.5)
HEAD = _Contour(
    [
        (100.0, 10.0),
        (111.5, 12.5),
        (118.5, 20.5),
        (121.0, 32.0),
        (119.5, 44.0),
        (115.5, 52.0),
        JAW,
        CHIN,
        _mirror(JAW),
        (84.5, 52.0),
        (80.5, 44.0),
        (79.0, 32.0),
        (81.5, 20.5),
        (88.5, 12.5),
    ],
    closed=True,
)
HEAD_TOP = (100.0, 10.0)

NECK_BASE = (112.0, 76.5)
SHOULDER_TOP = (124.0, 82.0)  # where the trapezius slope meets the front of the shoulder
ARM_TOP = (151.5, 118.0)  # outer end of the line between shoulder and upper arm
ELBOW_TOP, ELBOW_TOP_IN = (157.5, 172.0), (142.0, 175.0)
ELBOW_LOW, ELBOW_LOW_IN = (159.5, 197.0), (144.5, 199.0)
WRIST, WRIST_IN = (166.5, 246.0), (155.0, 249.0)
ARMPIT = (133.0, 124.0)
# Neck side, shoulder, outer arm, hand, inner arm, ending in the armpit.
ARM = _Contour(
    [
        JAW,
        (110.5, 67.0),
        NECK_BASE,
        SHOULDER_TOP,
        (137.5, 87.0),
        (145.5, 93.5),
        (149.5, 104.0),
        ARM_TOP,
        (154.5, 138.0),
        ELBOW_TOP,
        (158.5, 185.0),
        ELBOW_LOW,
        (163.0, 215.0),
        WRIST,
        (169.5, 256.0),
        (173.0, 266.0),
        (173.5, 279.0),
        (170.5, 289.0),
        (165.0, 293.0),
        (159.5, 289.0),
        (157.5, 277.0),
        (156.0, 263.0),
        WRIST_IN,
        (151.0, 230.0),
        (147.0, 214.0),
        ELBOW_LOW_IN,
        (143.0, 187.0),
        ELBOW_TOP_IN,
        (139.5, 155.0),
        (137.5, 138.0),
        ARMPIT,
    ]
)

SCAPULA_LOW = (130.6, 150.0)  # back: upper back / mid back
RIBS_LOW = (130.3, 158.0)  # front: chest / abdomen, at the lowest ribs
WAIST = (129.8, 182.0)  # back: mid back / low back
ILIAC = (132.5, 200.0)  # front: abdomen / hip and groin; back: low back / buttock
GROIN = (138.8, 232.0)  # front: outer end of the groin crease
GLUTEAL = (138.8, 250.0)  # back: outer end of the gluteal fold
KNEE_TOP, KNEE_TOP_IN = (130.5, 308.0), (105.8, 308.0)
KNEE_LOW, KNEE_LOW_IN = (129.5, 337.0), (105.9, 337.0)
ANKLE, ANKLE_IN = (123.5, 400.0), (109.2, 400.0)
GLUTEAL_IN = (102.6, 257.0)
CROTCH = (100.0, 246.0)
# Side of the trunk from the armpit, outer leg, foot, inner leg, ending in the crotch.
TRUNK = _Contour(
    [
        ARMPIT,
        (131.5, 139.0),
        SCAPULA_LOW,
        RIBS_LOW,
        (129.6, 171.0),
        WAIST,
        (131.0, 192.0),
        ILIAC,
        (136.5, 214.0),
        GROIN,
        GLUTEAL,
        (137.5, 270.0),
        (134.0, 291.0),
        KNEE_TOP,
        (129.2, 322.0),
        KNEE_LOW,
        (131.0, 352.0),
        (129.5, 370.0),
        (126.0, 388.0),
        ANKLE,
        (124.0, 412.0),
        (127.5, 423.0),
        (125.5, 432.0),
        (116.0, 434.5),
        (107.5, 432.5),
        (106.8, 421.0),
        (108.7, 410.0),
        ANKLE_IN,
        (108.2, 385.0),
        (106.3, 366.0),
        (105.2, 351.0),
        KNEE_LOW_IN,
        (106.1, 322.0),
        KNEE_TOP_IN,
        (104.8, 290.0),
        (103.8, 272.0),
        GLUTEAL_IN,
        CROTCH,
    ]
)

STERNAL_NOTCH = (100.0, 82.5)
XIPHOID = (100.0, 140.0)
LOW_ABDOMEN = (100.0, 220.0)
C7 = (100.0, 79.5)
MID_SCAPULA = (100.0, 150.0)
MID_WAIST = (100.0, 182.0)
SACRUM_TOP, SACRUM_CORNER, SACRUM_TIP = (100.0, 204.0), (113.0, 204.0), (100.0, 240.0)
# Inner boundaries, each from its outer end to its inner one.
DELTOPECTORAL = _Contour([SHOULDER_TOP, (126.0, 94.0), (129.5, 108.0), ARMPIT])
COSTAL_MARGIN = _Contour([RIBS_LOW, (115.0, 147.5), XIPHOID])
INGUINAL = _Contour([ILIAC, (116.0, 212.0), LOW_ABDOMEN])
GROIN_CREASE = _Contour([GROIN, (120.0, 240.5), CROTCH])
GLUTEAL_FOLD = _Contour([GLUTEAL, (121.0, 259.0), GLUTEAL_IN])


class _Side:
    """One half of a figure: the contours above as they are (viewer's right) or mirrored (viewer's left)."""

    def __init__(self, mirrored: bool) -> None:
        self.mirrored = mirrored
        pick = _Contour.mirrored if mirrored else (lambda contour: contour)
        self.arm = pick(ARM)
        self.trunk = pick(TRUNK)
        self.deltopectoral = pick(DELTOPECTORAL)
        self.costal_margin = pick(COSTAL_MARGIN)
        self.inguinal = pick(INGUINAL)
        self.groin_crease = pick(GROIN_CREASE)
        self.gluteal_fold = pick(GLUTEAL_FOLD)

    def __call__(self, point: Point) -> Point:
        return _mirror(point) if self.mirrored else point

    def band(self, contour: _Contour, top: Point, bottom: Point, bottom_in: Point, top_in: Point) -> str:
        """A limb segment between two cross-sections: down the outer side, across, up the inner side."""
        return _Pen(self(top)).follow(contour, self(bottom)).line(self(bottom_in)).follow(contour, self(top_in)).close()


def _limb_shapes(s: _Side) -> dict[str, str]:
    """Shapes that look the same from the front and the back: shoulder cap, arm and leg segments."""
    arm, trunk = s.arm, s.trunk
    return {
        "SHOULDER": _Pen(s(SHOULDER_TOP))
        .follow(arm, s(ARM_TOP))
        .line(s(ARMPIT))
        .follow(s.deltopectoral, s(SHOULDER_TOP))
        .close(),
        "ARM-UPPER": s.band(arm, ARM_TOP, ELBOW_TOP, ELBOW_TOP_IN, ARMPIT),
        "ELBOW": s.band(arm, ELBOW_TOP, ELBOW_LOW, ELBOW_LOW_IN, ELBOW_TOP_IN),
        "FOREARM": s.band(arm, ELBOW_LOW, WRIST, WRIST_IN, ELBOW_LOW_IN),
        "WRIST-HAND": _Pen(s(WRIST)).follow(arm, s(WRIST_IN)).close(),
        "KNEE": s.band(trunk, KNEE_TOP, KNEE_LOW, KNEE_LOW_IN, KNEE_TOP_IN),
        "LEG": s.band(trunk, KNEE_LOW, ANKLE, ANKLE_IN, KNEE_LOW_IN),
        "FOOT": _Pen(s(ANKLE)).follow(trunk, s(ANKLE_IN)).close(),
    }


def _front_shapes(s: _Side) -> dict[str, str]:
    arm, trunk = s.arm, s.trunk
    return {
        "CHEST": _Pen(s(STERNAL_NOTCH))
        .line(s(NECK_BASE))
        .follow(arm, s(SHOULDER_TOP))
        .follow(s.deltopectoral, s(ARMPIT))
        .follow(trunk, s(RIBS_LOW))
        .follow(s.costal_margin, s(XIPHOID))
        .close(),
        "HIP-GROIN": _Pen(s(ILIAC))
        .follow(trunk, s(GROIN))
        .follow(s.groin_crease, s(CROTCH))
        .line(s(LOW_ABDOMEN))
        .follow(s.inguinal, s(ILIAC))
        .close(),
        "THIGH": _Pen(s(GROIN))
        .follow(trunk, s(KNEE_TOP))
        .line(s(KNEE_TOP_IN))
        .follow(trunk, s(CROTCH))
        .follow(s.groin_crease, s(GROIN))
        .close(),
    }


def _back_shapes(s: _Side) -> dict[str, str]:
    arm, trunk = s.arm, s.trunk
    return {
        "UPPER-BACK": _Pen(s(C7))
        .line(s(NECK_BASE))
        .follow(arm, s(SHOULDER_TOP))
        .follow(s.deltopectoral, s(ARMPIT))
        .follow(trunk, s(SCAPULA_LOW))
        .line(s(MID_SCAPULA))
        .close(),
        "MID-BACK": _Pen(s(MID_SCAPULA)).line(s(SCAPULA_LOW)).follow(trunk, s(WAIST)).line(s(MID_WAIST)).close(),
        "LOW-BACK": _Pen(s(MID_WAIST))
        .line(s(WAIST))
        .follow(trunk, s(ILIAC))
        .line(s(SACRUM_CORNER), s(SACRUM_TOP))
        .close(),
        "BUTTOCK": _Pen(s(ILIAC))
        .follow(trunk, s(GLUTEAL))
        .follow(s.gluteal_fold, s(GLUTEAL_IN))
        .follow(trunk, s(CROTCH))
        .line(s(SACRUM_TIP), s(SACRUM_CORNER))
        .close(),
        "HAMSTRING": _Pen(s(GLUTEAL))
        .follow(trunk, s(KNEE_TOP))
        .line(s(KNEE_TOP_IN))
        .follow(trunk, s(GLUTEAL_IN))
        .follow(s.gluteal_fold, s(GLUTEAL))
        .close(),
    }


def _neck_shape(base: Point) -> str:
    """From the jaw, under the chin, down the far side of the neck, along its base (`base` at the midline)."""
    right, left = _Side(False), _Side(True)
    return (
        _Pen(JAW)
        .follow(HEAD, left(JAW))
        .follow(left.arm, left(NECK_BASE))
        .line(base, NECK_BASE)
        .follow(right.arm, JAW)
        .close()
    )


def _abdomen_shape() -> str:
    right, left = _Side(False), _Side(True)
    return (
        _Pen(XIPHOID)
        .follow(right.costal_margin, RIBS_LOW)
        .follow(right.trunk, ILIAC)
        .follow(right.inguinal, LOW_ABDOMEN)
        .follow(left.inguinal, left(ILIAC))
        .follow(left.trunk, left(RIBS_LOW))
        .follow(left.costal_margin, XIPHOID)
        .close()
    )


def _silhouette() -> str:
    """The outline of the whole body, drawn over the regions so the figure reads as one shape."""
    right, left = _Side(False), _Side(True)
    return (
        _Pen(left(JAW))
        .follow(HEAD, JAW)
        .follow(right.arm, ARMPIT)
        .follow(right.trunk, CROTCH)
        .follow(left.trunk, left(ARMPIT))
        .follow(left.arm, left(JAW))
        .close()
    )


SILHOUETTE = _silhouette()

# (code suffix, label) in the order the form lists them, top to bottom; "{side}" marks paired regions.
_FRONT_LAYOUT = (
    ("HEAD", "Head and face"),
    ("NECK", "Front of neck"),
    ("SHOULDER-{side}", "Front of shoulder, {side}"),
    ("CHEST-{side}", "Chest, {side}"),
    ("ABDOMEN", "Abdomen"),
    ("HIP-GROIN-{side}", "Hip and groin, {side}"),
    ("ARM-UPPER-{side}", "Front of upper arm, {side}"),
    ("ELBOW-{side}", "Front of elbow, {side}"),
    ("FOREARM-{side}", "Front of forearm, {side}"),
    ("WRIST-HAND-{side}", "Wrist and palm, {side}"),
    ("THIGH-{side}", "Front of thigh, {side}"),
    ("KNEE-{side}", "Front of knee, {side}"),
    ("LEG-{side}", "Shin, {side}"),
    ("ANKLE-FOOT-{side}", "Ankle and foot, {side}"),
)
_BACK_LAYOUT = (
    ("HEAD", "Back of head"),
    ("NECK", "Back of neck"),
    ("SHOULDER-{side}", "Back of shoulder, {side}"),
    ("UPPER-BACK-{side}", "Upper back, {side}"),
    ("MID-BACK-{side}", "Mid back, {side}"),
    ("LOW-BACK-{side}", "Low back, {side}"),
    ("SACRUM", "Sacrum and tailbone"),
    ("BUTTOCK-{side}", "Buttock, {side}"),
    ("ARM-UPPER-{side}", "Back of upper arm, {side}"),
    ("ELBOW-{side}", "Back of elbow, {side}"),
    ("FOREARM-{side}", "Back of forearm, {side}"),
    ("WRIST-HAND-{side}", "Wrist and back of hand, {side}"),
    ("HAMSTRING-{side}", "Back of thigh, {side}"),
    ("KNEE-{side}", "Back of knee, {side}"),
    ("CALF-{side}", "Calf, {side}"),
    ("HEEL-{side}", "Heel and Achilles, {side}"),
)
# Codes whose shape has another name in the shape tables above.
_SHAPE_ALIASES = {"ANKLE-FOOT": "FOOT", "CALF": "LEG", "HEEL": "FOOT"}


def _side_shapes(view: View) -> dict[str, dict[str, str]]:
    """Shapes by patient side. From the front the patient's left is on the viewer's right; from behind, the left."""
    view_shapes = _front_shapes if view == "front" else _back_shapes
    viewer_right, viewer_left = ({**_limb_shapes(side), **view_shapes(side)} for side in (_Side(False), _Side(True)))
    if view == "front":
        return {"L": viewer_right, "R": viewer_left}
    return {"L": viewer_left, "R": viewer_right}


def _build_regions() -> tuple[Region, ...]:
    regions = []
    views: tuple[tuple[View, tuple[tuple[str, str], ...], str], ...] = (
        ("front", _FRONT_LAYOUT, "F"),
        ("back", _BACK_LAYOUT, "B"),
    )
    single = {
        "HEAD": _Pen(HEAD_TOP).follow(HEAD, HEAD_TOP).close(),
        "ABDOMEN": _abdomen_shape(),
        "SACRUM": _Pen(SACRUM_TOP).line(SACRUM_CORNER, SACRUM_TIP, _mirror(SACRUM_CORNER)).close(),
    }
    for view, layout, prefix in views:
        single["NECK"] = _neck_shape(STERNAL_NOTCH if view == "front" else C7)
        sided = _side_shapes(view)
        for code_pattern, label_pattern in layout:
            if "{side}" not in code_pattern:
                regions.append(Region(f"{prefix}-{code_pattern}", label_pattern, view, single[code_pattern]))
                continue
            # Right before left: on the front figure that is the reading order, left to right.
            for side, word in (("R", "right"), ("L", "left")):
                name = code_pattern.removesuffix("-{side}")
                shape = sided[side][_SHAPE_ALIASES.get(name, name)]
                code = f"{prefix}-{code_pattern.format(side=side)}"
                regions.append(Region(code, label_pattern.format(side=word), view, shape))
    return tuple(regions)


REGIONS: tuple[Region, ...] = _build_regions()
REGION_BY_CODE: dict[str, Region] = {region.code: region for region in REGIONS}


def region_label(code: str) -> str:
    """The region's label; an unknown code is returned as it is, so old or odd data still displays."""
    region = REGION_BY_CODE.get(code)
    return region.label if region else code


def intensity_colour(intensity: int | None) -> str:
    """Fill colour for a marked region; out-of-range values are clamped so that bad data still draws."""
    if intensity is None:
        return NO_INTENSITY_COLOUR
    return INTENSITY_COLOURS[max(INTENSITY_MIN, min(INTENSITY_MAX, int(intensity)))]


@cache
def region_centre(code: str) -> Point:
    """A point well inside the region, where a tender-point marker goes."""
    polygon = _flatten(REGION_BY_CODE[code].path)
    centre = _centroid(polygon)
    if _contains(polygon, centre):
        return centre
    # Concave shapes (the buttock, the groin band) can have their centroid outside: take the inside point of a
    # coarse grid that lies farthest from the edge instead.
    xs, ys = [p[0] for p in polygon], [p[1] for p in polygon]
    candidates = [
        (x, y) for x in _steps(min(xs), max(xs), 24) for y in _steps(min(ys), max(ys), 24) if _contains(polygon, (x, y))
    ]
    edges = list(zip(polygon, polygon[1:] + polygon[:1], strict=True))
    return max(candidates, key=lambda p: min(_segment_distance(p, a, b) for a, b in edges))


def _flatten(path: str) -> list[Point]:
    """Points along a path written by _Pen (M, L and C commands only)."""
    parts = iter(path.split(" "))
    points: list[Point] = []
    for part in parts:
        if part == "Z":
            break
        if part[0] in "ML":
            points.append(_parse_point(part[1:]))
        elif part[0] == "C":
            c1, c2, end = _parse_point(part[1:]), _parse_point(next(parts)), _parse_point(next(parts))
            points.extend(_bezier_points(points[-1], c1, c2, end))
    return points


def _parse_point(text: str) -> Point:
    x, y = text.split(",")
    return (float(x), float(y))


def _bezier_points(p0: Point, c1: Point, c2: Point, p3: Point, steps: int = 8) -> list[Point]:
    points = []
    for k in range(1, steps + 1):
        t = k / steps
        u = 1 - t
        x, y = (
            u**3 * a + 3 * u * u * t * b + 3 * u * t * t * c + t**3 * d
            for a, b, c, d in zip(p0, c1, c2, p3, strict=True)
        )
        points.append((x, y))
    return points


def _centroid(polygon: list[Point]) -> Point:
    area = cx = cy = 0.0
    for (x0, y0), (x1, y1) in zip(polygon, polygon[1:] + polygon[:1], strict=True):
        cross = x0 * y1 - x1 * y0
        area += cross
        cx += (x0 + x1) * cross
        cy += (y0 + y1) * cross
    return (cx / (3 * area), cy / (3 * area))


def _contains(polygon: list[Point], point: Point) -> bool:
    x, y = point
    inside = False
    for (x0, y0), (x1, y1) in zip(polygon, polygon[1:] + polygon[:1], strict=True):
        if (y0 > y) != (y1 > y) and x < x0 + (y - y0) * (x1 - x0) / (y1 - y0):
            inside = not inside
    return inside


def _segment_distance(p: Point, a: Point, b: Point) -> float:
    dx, dy = b[0] - a[0], b[1] - a[1]
    length2 = dx * dx + dy * dy
    t = 0.0 if length2 == 0 else max(0.0, min(1.0, ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / length2))
    return math.dist(p, (a[0] + t * dx, a[1] + t * dy))


def _steps(low: float, high: float, count: int) -> list[float]:
    return [low + (high - low) * (k + 0.5) / count for k in range(count)]


# --- Form -------------------------------------------------------------------------------------------------------

NOTE_MAX_LENGTH = 200


def field_names(code: str) -> dict[str, str]:
    """The form's field names for one region, by role: selected, intensity, tender, note."""
    return {role: f"{code}-{role}" for role in ("selected", "intensity", "tender", "note")}


def area_value(area: Any, key: str, default: Any = None) -> Any:
    """One value of an area given either as a dict or as an object (a model instance) with that attribute."""
    if isinstance(area, Mapping):
        return area.get(key, default)
    return getattr(area, key, default)


class BodyMapForm(forms.Form):
    """Pain areas and tender points, four fields per region: `<code>-selected`, `-intensity`, `-tender`, `-note`.

    Values of regions that are not selected are ignored, even invalid ones: clinicians type into a row and
    untick it again, and what they unticked must not block the form.
    """

    def __init__(self, *args: Any, initial_areas: Iterable[Any] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for region in REGIONS:
            self.fields.update(_region_fields(region))
        if initial_areas:
            # A copy: BaseForm keeps the caller's `initial` dict itself.
            self.initial = {**self.initial, **_initial_from_areas(initial_areas)}

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        for region in REGIONS:
            names = field_names(region.code)
            if not cleaned.get(names["selected"]):
                for role in ("intensity", "tender", "note"):
                    self.errors.pop(names[role], None)
            elif names["intensity"] not in self.errors and cleaned.get(names["intensity"]) is None:
                self.add_error(names["intensity"], f"Give an intensity from 0 to 10 for {region.label}.")
        return cleaned

    def cleaned_areas(self) -> list[dict[str, Any]]:
        """The selected regions in REGIONS order, as {"region", "intensity", "tender", "note"} dicts."""
        if not self.is_valid():
            raise ValueError("cleaned_areas() needs a valid BodyMapForm.")
        areas = []
        for region in REGIONS:
            names = field_names(region.code)
            if self.cleaned_data.get(names["selected"]):
                areas.append(
                    {
                        "region": region.code,
                        "intensity": self.cleaned_data[names["intensity"]],
                        "tender": bool(self.cleaned_data.get(names["tender"])),
                        "note": self.cleaned_data.get(names["note"]) or "",
                    }
                )
        return areas

    def is_region_selected(self, code: str) -> bool:
        """Whether the region shows as selected: the posted value of a bound form, else the initial one."""
        return bool(self[field_names(code)["selected"]].value())


def _region_fields(region: Region) -> dict[str, forms.Field]:
    names = field_names(region.code)
    # data-bodymap-role lets the script find a row's controls whatever the form's prefix is.
    return {
        names["selected"]: forms.BooleanField(
            required=False,
            label=region.label,
            widget=forms.CheckboxInput(attrs={"class": "form-check-input", "data-bodymap-role": "selected"}),
        ),
        names["intensity"]: forms.IntegerField(
            required=False,
            min_value=INTENSITY_MIN,
            max_value=INTENSITY_MAX,
            label=f"Intensity from 0 to 10, {region.label}",
            widget=forms.NumberInput(
                attrs={
                    "class": "form-control form-control-sm bodymap-intensity",
                    "inputmode": "numeric",
                    "placeholder": "0-10",
                    "data-bodymap-role": "intensity",
                }
            ),
        ),
        names["tender"]: forms.BooleanField(
            required=False,
            label=f"Tender point found, {region.label}",
            widget=forms.CheckboxInput(attrs={"class": "form-check-input", "data-bodymap-role": "tender"}),
        ),
        names["note"]: forms.CharField(
            required=False,
            max_length=NOTE_MAX_LENGTH,
            label=f"Note, {region.label}",
            widget=forms.TextInput(
                attrs={"class": "form-control form-control-sm", "placeholder": "Note", "data-bodymap-role": "note"}
            ),
        ),
    }


def _initial_from_areas(areas: Iterable[Any]) -> dict[str, Any]:
    initial: dict[str, Any] = {}
    for area in areas:
        code = area_value(area, "region")
        if code not in REGION_BY_CODE:
            # Codes are stable forever, so an unknown one is a bug upstream: refuse rather than drop it on save.
            raise ValueError(f"Unknown body map region {code!r}.")
        names = field_names(code)
        initial[names["selected"]] = True
        initial[names["intensity"]] = area_value(area, "intensity")
        initial[names["tender"]] = bool(area_value(area, "tender", False))
        initial[names["note"]] = area_value(area, "note", "") or ""
    return initial
