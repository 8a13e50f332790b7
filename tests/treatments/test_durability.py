"""How long a session's relief lasted: worked examples, dates and scores computed by hand.

Relief holds while reported pain now is at least 30% below the session's pre-injection score: for pre_nrs 8 a
report of 5 holds ((8 - 5) / 8 = 37.5%), 6 does not (25%). Sessions are at 10:00 in the clinic's time zone."""

from datetime import datetime

from tests.treatments.reported_rows import local
from treatments.durability import Relief, ReliefState, relief_after, relief_by_session
from treatments.models import InjectionSession
from treatments.reported import ReportedPain

COURSE_INTERVAL = 14


def session(number: int, when: datetime, pre_nrs: int | None, *, signed: bool = True, next_interval=None):
    """An unsaved note: the computation reads its number, time, pre-injection score, planned interval and
    whether it is signed."""
    return InjectionSession(
        number=number,
        performed_at=when,
        pre_nrs=pre_nrs,
        next_interval_days=next_interval,
        signed_at=when if signed else None,
    )


def pain(when: datetime, nrs_now: int) -> ReportedPain:
    return ReportedPain(when, nrs_now)


def test_relief_lasted_until_the_first_report_where_it_no_longer_held():
    s1 = session(1, local(2026, 3, 2), 8)  # Monday 2 March
    reports = [
        pain(local(2026, 3, 4, 9), 3),  # 62.5% below 8: holds
        pain(local(2026, 3, 7, 20), 5),  # 37.5%: holds
        pain(local(2026, 3, 10, 8), 6),  # 25%: ended, 8 days after 2 March
        pain(local(2026, 3, 12, 8), 2),  # relief again later does not make the first relief last longer
    ]
    relief = relief_by_session([s1], reports, COURSE_INTERVAL)[1]
    assert (relief.state, relief.days, relief.planned_days) == (ReliefState.ENDED, 8, 14)
    assert str(relief) == "about 8 days"
    assert relief.ended_before_next_planned  # 8 < 14


def test_exactly_30_percent_still_counts_as_relief():
    s1 = session(1, local(2026, 3, 2), 10)
    relief = relief_after(s1, 7, [pain(local(2026, 3, 7), 7)], None)  # (10 - 7) / 10 = 30%
    assert (relief.state, relief.days) == (ReliefState.HELD, 5)
    assert str(relief) == "at least 5 days"
    assert not relief.ended_before_next_planned  # still relieved when last heard of


def test_relief_held_in_every_report_lasted_at_least_until_the_last():
    s1 = session(1, local(2026, 3, 2), 6)  # relief: 4 or less ((6 - 4) / 6 = 33%)
    reports = [pain(local(2026, 3, 3), 2), pain(local(2026, 3, 8, 18), 4)]
    relief = relief_by_session([s1], reports, COURSE_INTERVAL)[1]
    assert (relief.state, relief.days) == (ReliefState.HELD, 6)
    assert str(relief) == "at least 6 days"


def test_the_next_planned_interval_is_the_notes_own_else_the_courses():
    s1 = session(1, local(2026, 3, 2), 8, next_interval=8)
    ended_on_day_8 = [pain(local(2026, 3, 10), 7)]
    relief = relief_by_session([s1], ended_on_day_8, COURSE_INTERVAL)[1]
    assert (relief.days, relief.planned_days) == (8, 8)
    assert not relief.ended_before_next_planned  # it lasted until the session planned 8 days on
    relief = relief_by_session([session(1, local(2026, 3, 2), 8)], ended_on_day_8, COURSE_INTERVAL)[1]
    assert relief.planned_days == 14 and relief.ended_before_next_planned


def test_a_report_after_the_next_signed_session_speaks_for_that_one_not_this_one():
    s1, s2 = session(1, local(2026, 3, 2), 8), session(2, local(2026, 3, 9), 6)
    reports = [
        pain(local(2026, 3, 5), 4),  # after S1: 50% below 8, holds
        pain(local(2026, 3, 9, 8), 5),  # the check-in before S2 (08:00, S2 at 10:00): still S1's; 37.5%, holds
        pain(local(2026, 3, 11), 8),  # after S2: no relief from 6 (worse); not S1's, though it is 0% below 8
    ]
    relief = relief_by_session([s2, s1], reports, COURSE_INTERVAL)  # given in any order
    assert (relief[1].state, relief[1].days, str(relief[1])) == (ReliefState.HELD, 7, "at least 7 days")
    assert (relief[2].state, relief[2].days, str(relief[2])) == (ReliefState.ENDED, 2, "about 2 days")


def test_reports_on_the_session_day_count_only_after_the_injection():
    s1 = session(1, local(2026, 3, 2), 8)
    before_it = pain(local(2026, 3, 2, 8), 2)  # that morning's check-in: before the injection
    assert relief_after(s1, 7, [before_it], None).state is ReliefState.UNKNOWN
    evening_relieved = relief_after(s1, 7, [before_it, pain(local(2026, 3, 2, 19), 3)], None)
    assert (evening_relieved.days, str(evening_relieved)) == (0, "at least the day of the session")
    evening_not = relief_after(s1, 7, [pain(local(2026, 3, 2, 19), 7)], None)
    assert (evening_not.state, evening_not.days, str(evening_not)) == (ReliefState.ENDED, 0, "less than a day")
    assert evening_not.ended_before_next_planned


def test_drafts_are_neither_rows_nor_boundaries():
    s1 = session(1, local(2026, 3, 2), 8)
    draft = session(2, local(2026, 3, 9), 0, signed=False)
    reports = [pain(local(2026, 3, 11), 3)]  # after the draft: still S1's, no signed session in between
    relief = relief_by_session([s1, draft], reports, COURSE_INTERVAL)
    assert set(relief) == {1}
    assert (relief[1].state, relief[1].days) == (ReliefState.HELD, 9)


def test_not_known_without_pain_before_the_injection_or_any_report_after_it():
    reports = [pain(local(2026, 3, 5), 0)]
    no_pain = relief_after(session(1, local(2026, 3, 2), 0), 7, reports, None)
    assert (no_pain.state, no_pain.reason, str(no_pain)) == (
        ReliefState.UNKNOWN,
        "no pain before the injection",
        "not known",
    )
    no_score = relief_after(session(1, local(2026, 3, 2), None), 7, reports, None)
    assert (no_score.state, no_score.reason) == (ReliefState.UNKNOWN, "no pain score before the injection")
    nothing = relief_after(session(1, local(2026, 3, 2), 8), 7, [], None)
    assert (nothing.state, nothing.reason, str(nothing)) == (
        ReliefState.UNKNOWN,
        "nothing reported after it",
        "not known",
    )
    assert not nothing.ended_before_next_planned


def test_one_day_is_singular():
    assert str(Relief(ReliefState.ENDED, 1, 7)) == "about 1 day"
    assert str(Relief(ReliefState.HELD, 1, 7)) == "at least 1 day"
