"""outcomes.facts.course_outcomes: the one reading of each course's outcome, each rule on a worked example."""

from decimal import Decimal

import pytest

from accounts.models import Role
from outcomes.facts import course_outcomes, median
from outcomes.models import Moment
from tests.factories import UserFactory
from tests.outcomes.builders import ask, close, course, nerve, review, session
from treatments.models import CourseStatus, TreatmentCourse

pytestmark = pytest.mark.django_db


def outcome_of(treated: TreatmentCourse):
    (found,) = course_outcomes(TreatmentCourse.objects.filter(pk=treated.pk))
    return found


# --- Baseline and end of course ------------------------------------------------------------------------------


def test_baseline_and_end_come_from_the_baseline_assessment_and_the_newest_signed_session():
    treated = course(baseline=8, peg=(7, 6, 8))
    session(treated, 1, 7, days=30)
    session(treated, 2, 5, days=20)
    session(treated, 3, 4, days=10)
    close(treated)
    found = outcome_of(treated)
    assert (found.baseline_nrs, found.end_nrs) == (8, 4)
    assert found.baseline_peg == Decimal("7.0")  # (7 + 6 + 8) / 3
    assert found.end_peg is None  # sessions record no PEG
    assert found.nrs_change == 4
    assert found.responder == "substantial"  # 4 of 8 points: 50%
    assert found.signed_sessions == 3
    assert found.closed and found.completed


@pytest.mark.parametrize(
    ("baseline", "end", "status"),
    [
        (8, 4, "substantial"),  # 50% less pain
        (8, 6, "none"),  # 25%
        (10, 7, "moderate"),  # 30%
        (10, 6, "moderate"),  # 40%
        (10, 5, "substantial"),  # 50%
        (3, 4, "none"),  # worse
        (0, 0, "unknown"),  # no pain at baseline: no share of it can fall
    ],
)
def test_responder_status_from_baseline_to_end(baseline, end, status):
    treated = course(baseline=baseline)
    session(treated, 1, end, days=10)
    assert outcome_of(treated).responder == status


def test_no_baseline_assessment_is_unknown():
    treated = course(baseline=None)
    session(treated, 1, 2, days=10)
    found = outcome_of(treated)
    assert found.baseline_nrs is None and found.baseline_peg is None
    assert found.responder == "unknown" and found.nrs_change is None


def test_a_draft_never_counts_even_with_pain_0():
    first, second = UserFactory(role=Role.CLINICIAN), UserFactory(role=Role.CLINICIAN)
    treated = course(baseline=8, clinician=first)
    session(treated, 1, 6, days=20, nerves=[nerve(0)])
    session(treated, 2, 0, days=5, nerves=[nerve(1)], signed=False, clinician=second, adverse_event=True)
    found = outcome_of(treated)
    assert found.end_nrs == 6
    assert found.responder == "none"  # 8 -> 6 is 25%; the draft's 0 would have made it 100%
    assert found.signed_sessions == 1
    assert found.nerve_ids == {nerve(0).pk}
    assert found.adverse_events == 0
    assert found.clinician_id == first.pk


def test_a_draft_first_session_names_no_clinician():
    treated = course()
    session(treated, 1, 6, days=20, signed=False)
    found = outcome_of(treated)
    assert found.clinician_id is None and found.signed_sessions == 0 and found.end_nrs is None


def test_the_clinician_is_who_signed_the_first_session():
    first, later = UserFactory(role=Role.CLINICIAN), UserFactory(role=Role.CLINICIAN)
    treated = course(clinician=later)
    session(treated, 2, 5, days=10, clinician=later)
    session(treated, 1, 6, days=20, clinician=first)  # made second, performed first
    assert outcome_of(treated).clinician_id == first.pk


def test_nerves_and_adverse_events_of_signed_sessions():
    treated = course()
    session(treated, 1, 6, days=20, nerves=[nerve(0), nerve(1)], adverse_event=True)
    session(treated, 2, 5, days=10, nerves=[nerve(1), nerve(2)], adverse_event=True)
    found = outcome_of(treated)
    assert found.nerve_ids == {nerve(0).pk, nerve(1).pk, nerve(2).pk}
    assert found.adverse_events == 2


def test_a_review_newer_than_the_sessions_is_the_end_with_its_peg():
    treated = course(baseline=8, peg=(7, 6, 8))
    session(treated, 1, 6, days=20)
    review(treated, 3, days=5, peg=(4, 2, 3))
    found = outcome_of(treated)
    assert found.end_nrs == 3
    assert found.end_peg == Decimal("3.0")  # (4 + 2 + 3) / 3
    assert found.peg_change == Decimal("4.0")  # 7.0 - 3.0
    assert found.responder == "substantial"  # 5 of 8: 62.5%


def test_the_patients_end_of_course_answer_newer_than_the_last_session_is_the_end():
    treated = course(baseline=10, peg=(9, 8, 7))
    session(treated, 1, 8, days=30)
    close(treated)
    ask(treated, Moment.COURSE_END, days=10, nrs=7, peg=(6, 5, 5), pgic=3)
    found = outcome_of(treated)
    assert found.end_nrs == 7
    assert found.responder == "moderate"  # 3 of 10: 30%
    assert found.end_peg == Decimal("5.3")  # (6 + 5 + 5) / 3 = 5.33
    assert found.peg_change == Decimal("2.7")  # 8.0 - 5.3


def test_a_before_session_answer_counts_when_newest_and_loses_to_a_newer_session():
    treated = course(baseline=10)
    session(treated, 1, 8, days=30)
    ask(treated, Moment.BEFORE_SESSION, days=20, nrs=5)
    assert outcome_of(treated).end_nrs == 5
    session(treated, 2, 6, days=10)
    assert outcome_of(treated).end_nrs == 6


def test_a_three_month_answer_is_durability_not_the_end():
    treated = course(baseline=10)
    session(treated, 1, 5, days=200)
    close(treated)
    ask(treated, Moment.AFTER_COURSE, days=100, after_course=91, nrs=1)
    found = outcome_of(treated)
    assert found.end_nrs == 5
    assert found.follow_up_nrs == {3: 1}


def test_an_unanswered_or_cancelled_request_adds_nothing():
    treated = course(baseline=10)
    session(treated, 1, 8, days=30)
    ask(treated, Moment.COURSE_END, days=10, answered=False)
    ask(treated, Moment.AFTER_COURSE, days=5, after_course=91, cancelled=True)
    found = outcome_of(treated)
    assert found.end_nrs == 8 and found.follow_up_nrs == {}


# --- Impression of change ------------------------------------------------------------------------------------


def test_final_pgic_is_the_patients_end_answer_else_the_recorded_one_else_the_reviews():
    treated = course()
    session(treated, 1, 5, days=40)
    review(treated, 4, days=30, pgic=4)
    assert outcome_of(treated).final_pgic == 4
    close(treated, final_pgic=3)
    assert outcome_of(treated).final_pgic == 3
    ask(treated, Moment.COURSE_END, days=10, nrs=4, pgic=2)
    found = outcome_of(treated)
    assert found.final_pgic == 2
    assert found.pgic_improved is True


@pytest.mark.parametrize(("pgic", "improved"), [(1, True), (2, True), (3, False), (4, False), (7, False)])
def test_pgic_1_and_2_are_improved_3_is_not(pgic, improved):
    treated = course()
    close(treated, final_pgic=pgic)
    assert outcome_of(treated).pgic_improved is improved


def test_no_pgic_is_unknown_not_unimproved():
    treated = course()
    close(treated)
    assert outcome_of(treated).pgic_improved is None


def test_a_before_session_answer_gives_no_final_impression():
    treated = course()
    ask(treated, Moment.BEFORE_SESSION, days=20, nrs=5, pgic=1)
    assert outcome_of(treated).final_pgic is None


# --- After the course -----------------------------------------------------------------------------------------


def test_durability_compares_each_follow_up_with_baseline():
    treated = course(baseline=10)
    session(treated, 1, 5, days=300)  # 50% better: a responder
    close(treated)
    ask(treated, Moment.AFTER_COURSE, days=200, after_course=91, nrs=6)  # still 40% better
    ask(treated, Moment.AFTER_COURSE, days=110, after_course=182, nrs=8)  # only 20% better now
    found = outcome_of(treated)
    assert found.follow_up_nrs == {3: 6, 6: 8}
    assert found.still_better(3) is True
    assert found.still_better(6) is False


def test_durability_is_not_asked_of_a_course_that_did_not_respond_or_was_not_followed_up():
    did_not_respond = course(baseline=10)
    session(did_not_respond, 1, 8, days=300)
    close(did_not_respond)
    ask(did_not_respond, Moment.AFTER_COURSE, days=200, after_course=91, nrs=2)
    assert outcome_of(did_not_respond).still_better(3) is None
    not_answered = course(baseline=10)
    session(not_answered, 1, 3, days=300)
    close(not_answered)
    ask(not_answered, Moment.AFTER_COURSE, days=200, after_course=91, answered=False)
    assert outcome_of(not_answered).still_better(3) is None


def test_the_follow_up_nearest_the_mark_counts_and_one_outside_every_band_none():
    treated = course(baseline=10)
    session(treated, 1, 5, days=400)
    close(treated)
    ask(treated, Moment.AFTER_COURSE, days=300, after_course=91, nrs=4)  # the 3-month mark itself
    ask(treated, Moment.AFTER_COURSE, days=250, after_course=118, nrs=9)  # in the band, further from the mark
    ask(treated, Moment.AFTER_COURSE, days=200, after_course=30, nrs=9)  # a month: no band
    assert outcome_of(treated).follow_up_nrs == {3: 4}


def test_follow_ups_sent_and_answered():
    treated = course()
    close(treated)
    ask(treated, Moment.AFTER_COURSE, days=100, after_course=91, nrs=3)  # sent, answered
    ask(treated, Moment.AFTER_COURSE, days=20, after_course=182, answered=False)  # sent, not answered
    ask(treated, Moment.AFTER_COURSE, days=10, after_course=120, cancelled=True)  # withdrawn: not counted
    ask(treated, Moment.AFTER_COURSE, days=5, after_course=365, sent=False, answered=False)  # never sent
    ask(treated, Moment.COURSE_END, days=150, nrs=3)  # the end of the course is not a follow-up
    found = outcome_of(treated)
    assert (found.follow_ups_sent, found.follow_ups_answered) == (2, 1)


# --- Many courses at once ------------------------------------------------------------------------------------


def _full_course(index: int) -> None:
    treated = course(baseline=8)
    session(treated, 1, 6, days=40, nerves=[nerve(index % 3)], adverse_event=True)
    session(treated, 2, 5, days=30, signed=False)
    review(treated, 4, days=20, pgic=3)
    close(treated, CourseStatus.DISCONTINUED)
    ask(treated, Moment.BEFORE_SESSION, days=42, nrs=6)
    ask(treated, Moment.COURSE_END, days=15, nrs=4, peg=(4, 4, 4), pgic=2)
    ask(treated, Moment.AFTER_COURSE, days=10, after_course=91, nrs=4)


def test_the_same_number_of_queries_whatever_the_number_of_courses(django_assert_num_queries):
    _full_course(0)
    with django_assert_num_queries(4):
        assert len(course_outcomes(TreatmentCourse.objects.all())) == 1
    for index in range(1, 6):
        _full_course(index)
    with django_assert_num_queries(4):
        found = course_outcomes(TreatmentCourse.objects.all())
    assert len(found) == 6
    assert {(o.end_nrs, o.final_pgic, o.signed_sessions, o.adverse_events) for o in found} == {(4, 2, 1, 1)}


def test_a_course_with_nothing_recorded_yet():
    treated = course(baseline=None)
    found = outcome_of(treated)
    assert (found.end_nrs, found.final_pgic, found.signed_sessions, found.clinician_id) == (None, None, 0, None)
    assert found.nerve_ids == set() and found.follow_up_nrs == {} and not found.closed


# --- Median ----------------------------------------------------------------------------------------------------


def test_median_of_an_odd_count_is_the_middle_value():
    assert median([5, 1, 3]) == 3


def test_median_of_an_even_count_is_the_mean_of_the_middle_two():
    assert median([10, 1, 2, 3]) == Decimal("2.5")  # 1 2 | 3 10: (2 + 3) / 2
    assert median([Decimal("1.3"), Decimal("2.4")]) == Decimal("1.85")


def test_median_ignores_unknowns_and_has_none_of_nothing():
    assert median([None, 4, None]) == 4
    assert median([None]) is None
    assert median([]) is None
