"""What a change in pain means: its size and, always, its direction; and the course's response to treatment.

Every percentage the portal shows about pain comes from pain_change, so none is a bare signed number that a
reader can take the wrong way: a rise from 4 to 6 is "50% worse", never "-50% relief".
"""

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from enum import Enum

from django.utils.html import format_html
from django.utils.safestring import SafeString

NRS_MIN, NRS_MAX = 0, 10


class Direction(Enum):
    BETTER = "better"
    WORSE = "worse"
    SAME = "same"


# Colour is a second signal beside the word, never the only one.
DIRECTION_CSS = {
    Direction.BETTER: "text-success-emphasis",
    Direction.WORSE: "text-danger-emphasis fw-semibold",
    Direction.SAME: "text-body-secondary",
}


@dataclass(frozen=True)
class PainChange:
    """A change between two NRS scores: `percent` of the earlier score (None when that was 0) and its direction.

    str() is the plain words ("50% worse"); as_html() wraps the same words in a span coloured by direction,
    with data-direction for tests and styling."""

    direction: Direction
    percent: int | None

    def __str__(self) -> str:
        if self.direction is Direction.SAME:
            return "no change"
        if self.percent is None:
            return f"{self.direction.value} (from 0)"
        return f"{self.percent}% {self.direction.value}"

    def as_html(self) -> SafeString:
        css, name = DIRECTION_CSS[self.direction], self.direction.name.lower()
        return format_html('<span class="{}" data-direction="{}">{}</span>', css, name, str(self))

    @property
    def is_worse(self) -> bool:
        return self.direction is Direction.WORSE


def pain_change(before: int | None, after: int | None) -> PainChange | None:
    """The change from `before` to `after` (NRS 0-10), relative to `before`; None unless both are known.

    The size is rounded half up (62.5% is 63%), the same way whichever way pain went."""
    check_nrs(before, "before")
    check_nrs(after, "after")
    if before is None or after is None:
        return None
    if after == before:
        return PainChange(Direction.SAME, 0)
    direction = Direction.BETTER if after < before else Direction.WORSE
    if before == 0:
        return PainChange(direction, None)  # any rise from no pain is worse, but by no percentage of it
    size = Decimal(abs(after - before)) * 100 / Decimal(before)
    return PainChange(direction, int(size.quantize(Decimal(1), rounding=ROUND_HALF_UP)))


# The usual responder thresholds in pain research: a 30% fall in NRS from baseline is a moderate, 50% a
# substantial improvement. Every status has a reading, so one below the thresholds still says something.
RESPONDER_LABELS = {
    "substantial": "≥ 50% better",
    "moderate": "≥ 30% better",
    "none": "not yet",
    "unknown": "not known",
}


def responder_status(baseline: int | None, latest: int | None) -> str:
    """ "substantial", "moderate", "none" (pain fell less than 30%, stayed or rose) or "unknown" (no baseline pain
    or no later score)."""
    check_nrs(baseline, "baseline")
    check_nrs(latest, "latest")
    if not baseline or latest is None:
        return "unknown"
    # Integer arithmetic so a reduction of exactly 30% or 50% is never lost to float rounding.
    reduction_x100 = (baseline - latest) * 100
    if reduction_x100 >= 50 * baseline:
        return "substantial"
    if reduction_x100 >= 30 * baseline:
        return "moderate"
    return "none"


def responder_label(status: str) -> str:
    return RESPONDER_LABELS[status]


def check_nrs(value: int | None, name: str) -> None:
    """Refuse (ValueError) a score outside the 0-10 scale: a figure built on one would mislead."""
    if value is not None and not NRS_MIN <= value <= NRS_MAX:
        raise ValueError(f"{name} must be an NRS score from {NRS_MIN} to {NRS_MAX}, not {value!r}")
