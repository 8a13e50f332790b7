"""What a questionnaire score means, for the scores that have a published cut-off.

A score with a cut-off is always shown with its reading, on either side of it: "3/10, neuropathic pain unlikely"
says as much as "5/10, neuropathic pain likely", where a reading shown only above the cut-off leaves a reader to
guess whether nothing below it was checked.
"""

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal


@dataclass(frozen=True)
class Reading:
    """A score's reading: its words, and whether the score reached the cut-off."""

    text: str
    reaches_cut_off: bool

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class Cutoff:
    """A published cut-off on a scale from `low` to `high`: a score of `at` or more reads `at_or_above`."""

    scale: str
    low: int
    high: int
    at: int
    below: str
    at_or_above: str

    def reading(self, score: int) -> Reading:
        """The reading of `score`; ValueError for a score off the scale, which has none."""
        if not self.low <= score <= self.high:
            raise ValueError(f"a {self.scale} score runs from {self.low} to {self.high}, not {score!r}")
        if score >= self.at:
            return Reading(self.at_or_above, reaches_cut_off=True)
        return Reading(self.below, reaches_cut_off=False)


# DN4 (Bouhassira et al., 2005): 4 or more of its 10 items suggests neuropathic pain.
DN4 = Cutoff("DN4", 0, 10, at=4, below="neuropathic pain unlikely", at_or_above="neuropathic pain likely")


def peg_score(pain: int | None, enjoyment: int | None, activity: int | None) -> Decimal | None:
    """PEG-3 (Krebs et al. 2009): the mean of its three 0-10 items to one decimal, half up; None unless all three
    are known. Wherever a PEG is asked (assessment, check-in, between-visit answer), it is worked out here."""
    if pain is None or enjoyment is None or activity is None:
        return None
    return (Decimal(pain + enjoyment + activity) / 3).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
