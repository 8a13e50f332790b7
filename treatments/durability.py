"""How long each session's relief lasted, from what the patient reported after it.

Relief after a signed session holds while the patient's reported pain now is at least 30% below the pain the
clinician scored before that injection (`pre_nrs`): the same 30% rule as the course's responder status
(treatments.outcomes.responder_status). The reports that speak for a session are those made after it and before
the next signed session (a pre-visit check-in for that next session is the last word on the one before it).

- Relief "lasted about N days": N days from the session to the first report where it no longer held.
- "At least N days": every report still showed relief; N is the days to the last of them.
- "Not known": nothing reported after the session, or no pain before the injection to measure relief from
  (no `pre_nrs`, or 0).

Days are calendar days in the clinic's time zone. Drafts never count, as rows or as boundaries: a draft can still
change. Pure functions (no queries)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Protocol

from django.utils import timezone

from treatments.outcomes import responder_status
from treatments.reported import ReportedPain

# responder_status's readings at which pain is at least 30% below the reference score.
RELIEVED = frozenset({"moderate", "substantial"})


class ReliefState(Enum):
    ENDED = "ended"
    HELD = "held"
    UNKNOWN = "unknown"


class SignedScores(Protocol):
    """What the computation reads of a session note (InjectionSession has it all)."""

    number: int
    performed_at: datetime
    pre_nrs: int | None
    next_interval_days: int | None

    @property
    def is_signed(self) -> bool: ...


@dataclass(frozen=True)
class Relief:
    """How long relief lasted after one signed session, beside the interval the clinician planned after it."""

    state: ReliefState
    days: int | None
    planned_days: int
    reason: str = ""  # why it is not known

    @property
    def ended_before_next_planned(self) -> bool:
        """Relief had ended before the next session was planned: the interval may be too long for this patient."""
        return self.state is ReliefState.ENDED and self.days is not None and self.days < self.planned_days

    def __str__(self) -> str:
        if self.state is ReliefState.UNKNOWN or self.days is None:
            return "not known"
        if self.state is ReliefState.ENDED:
            return "less than a day" if self.days == 0 else f"about {_days(self.days)}"
        return "at least the day of the session" if self.days == 0 else f"at least {_days(self.days)}"


def _days(count: int) -> str:
    return f"{count} day{'' if count == 1 else 's'}"


def relief_after(
    session: SignedScores, planned_days: int, reports: Sequence[ReportedPain], until: datetime | None
) -> Relief:
    """The relief after one signed session, from `reports` (any order) made after it and before `until` (the next
    signed session; None for the last)."""
    if not session.pre_nrs:
        reason = "no pain score before the injection" if session.pre_nrs is None else "no pain before the injection"
        return Relief(ReliefState.UNKNOWN, None, planned_days, reason)
    after = sorted(
        (r for r in reports if r.at > session.performed_at and (until is None or r.at < until)), key=lambda r: r.at
    )
    if not after:
        return Relief(ReliefState.UNKNOWN, None, planned_days, "nothing reported after it")
    performed_on = timezone.localdate(session.performed_at)
    for report in after:
        if responder_status(session.pre_nrs, report.nrs_now) not in RELIEVED:
            return Relief(ReliefState.ENDED, (timezone.localdate(report.at) - performed_on).days, planned_days)
    return Relief(ReliefState.HELD, (timezone.localdate(after[-1].at) - performed_on).days, planned_days)


def relief_by_session(
    sessions: Sequence[SignedScores], reports: Sequence[ReportedPain], course_interval_days: int
) -> dict[int, Relief]:
    """The relief after each signed session, by session number. The planned interval is the one the clinician
    set on the note (`next_interval_days`), else the course's."""
    signed = sorted((s for s in sessions if s.is_signed), key=lambda s: s.performed_at)
    relief = {}
    for index, session in enumerate(signed):
        until = signed[index + 1].performed_at if index + 1 < len(signed) else None
        relief[session.number] = relief_after(
            session, session.next_interval_days or course_interval_days, reports, until
        )
    return relief
