"""Each course's outcome in figures: the one reading of a course that the outcomes report and the registry
export both count from, so they never disagree.

What counts, and why:
- Only signed session notes (a draft may still change), the course's assessments, and what the patient reported.
- Baseline: the course's baseline assessment (pain now; PEG from its three items).
- End of course: the newest pain score before an injection, at a review, or reported by the patient before a
  session or at the end of the course; follow-up answers (after the course) are not the end, they are durability.
- Final impression of change (PGIC): the patient's own end-of-course answer, else what was recorded when the course
  closed, else the newest review's.
- Durability at 3 and 6 months: the follow-up answer nearest each mark (FOLLOW_UP_MARKS, within FOLLOW_UP_BANDS),
  compared with baseline.
- Follow-ups sent and answered: the questions after the course that were emailed, less those the clinic cancelled
  (no longer needed: the patient could not answer them), and how many of those were answered.

Every reading is one of four queries over the courses asked for, grouped per course in the database where it can be
(DISTINCT ON, or the first value of an ordered ARRAY_AGG, for "the newest"): the same number whatever their count."""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from django.contrib.postgres.aggregates import ArrayAgg
from django.db.models import BooleanField, Count, ExpressionWrapper, Field, Func, IntegerField, Max, Q, QuerySet
from django.utils import timezone

from assessments.models import PGIC, Assessment, AssessmentKind
from assessments.scores import peg_score
from outcomes.models import MeasureRequest, Moment
from treatments.models import CourseStatus, InjectionSession, TreatmentCourse
from treatments.outcomes import responder_status

# Follow-up answers count as "3 months" or "6 months" when asked this many days after the course ended (the
# clinic's schedule asks at 91 and 182 days by default, and may move them a little).
FOLLOW_UP_BANDS: dict[int, range] = {3: range(60, 121), 6: range(150, 241)}
FOLLOW_UP_MARKS: dict[int, int] = {3: 91, 6: 182}
IMPROVED_PGIC = (PGIC.VERY_MUCH_IMPROVED, PGIC.MUCH_IMPROVED)
RESPONDED = ("moderate", "substantial")
END_MOMENTS = (Moment.BEFORE_SESSION, Moment.COURSE_END)


@dataclass
class Score:
    """A score and when it was given, so the newest of several sources can be chosen."""

    at: datetime
    nrs: int | None = None
    peg: Decimal | None = None
    pgic: int | None = None


def _newest(*scores: Score | None) -> Score | None:
    known = [score for score in scores if score is not None]
    return max(known, key=lambda score: score.at) if known else None


@dataclass
class CourseOutcome:
    course_id: int
    patient_id: int
    condition_id: int
    status: str
    stop_reason: str
    started_on: date
    closed_on: date | None
    baseline_nrs: int | None
    baseline_peg: Decimal | None
    signed_sessions: int = 0
    clinician_id: int | None = None  # who signed the course's first session
    end_nrs: int | None = None
    end_peg: Decimal | None = None
    final_pgic: int | None = None
    follow_up_nrs: dict[int, int | None] = field(default_factory=dict)  # months -> pain now then
    follow_up_on: dict[int, date] = field(default_factory=dict)  # months -> the day (local) that answer came
    further_treatment: dict[int, bool | None] = field(default_factory=dict)
    follow_ups_sent: int = 0
    follow_ups_answered: int = 0
    nerve_ids: set[int] = field(default_factory=set)
    adverse_events: int = 0

    @property
    def closed(self) -> bool:
        return self.status != CourseStatus.ACTIVE

    @property
    def completed(self) -> bool:
        return self.status == CourseStatus.COMPLETED

    @property
    def responder(self) -> str:
        """ "substantial" (≥ 50% better), "moderate" (≥ 30%), "none" or "unknown": baseline to end of course."""
        return responder_status(self.baseline_nrs, self.end_nrs)

    @property
    def nrs_change(self) -> int | None:
        """Points of pain gone from baseline to the end (negative when worse)."""
        if self.baseline_nrs is None or self.end_nrs is None:
            return None
        return self.baseline_nrs - self.end_nrs

    @property
    def peg_change(self) -> Decimal | None:
        if self.baseline_peg is None or self.end_peg is None:
            return None
        return self.baseline_peg - self.end_peg

    @property
    def pgic_improved(self) -> bool | None:
        return None if self.final_pgic is None else self.final_pgic in IMPROVED_PGIC

    def still_better(self, months: int) -> bool | None:
        """For a course that responded (≥ 30%), whether the follow-up at `months` is still ≥ 30% better than
        baseline; None when it did not respond or nobody answered then."""
        nrs = self.follow_up_nrs.get(months)
        if self.responder not in RESPONDED or nrs is None:
            return None
        return responder_status(self.baseline_nrs, nrs) in RESPONDED


def _band(days: int | None) -> int | None:
    return next((months for months, band in FOLLOW_UP_BANDS.items() if days is not None and days in band), None)


def _newest_per_course(queryset: QuerySet, order: str) -> QuerySet:
    """The newest row per course (PostgreSQL's DISTINCT ON), by `order` (a field name)."""
    return queryset.order_by("course_id", f"-{order}", "-pk").distinct("course_id")


class FirstOf(Func):
    """The first element of an array (PostgreSQL counts from 1): of an ordered ARRAY_AGG, each group's first value
    in that order."""

    template = "(%(expressions)s)[1]"


def _first(field: str, order_by: tuple[str, ...], output_field: Field, filter: Q | None = None) -> FirstOf:
    return FirstOf(ArrayAgg(field, order_by=order_by, filter=filter), output_field=output_field)


def course_outcomes(courses: QuerySet[TreatmentCourse]) -> list[CourseOutcome]:
    """The outcome of each course in `courses` (a queryset, used as a subquery by every reading): four queries."""
    rows = courses.order_by().values_list(
        "pk", "patient_id", "condition_id", "status", "stop_reason", "started_on", "closed_on", "final_pgic",
        "baseline_assessment__nrs_current", "baseline_assessment__nrs_average",
        "baseline_assessment__peg_enjoyment", "baseline_assessment__peg_activity",
    )  # fmt: skip
    outcomes: dict[int, CourseOutcome] = {}
    recorded_pgic: dict[int, int | None] = {}
    for pk, patient, condition, status, stop, started, closed, pgic, nrs, average, enjoyment, activity in rows:
        outcomes[pk] = CourseOutcome(pk, patient, condition, status, stop, started, closed, nrs,
                                     peg_score(average, enjoyment, activity))  # fmt: skip
        recorded_pgic[pk] = pgic
    ids = courses.values("pk")
    candidates: dict[int, list[Score]] = defaultdict(list)
    _add_sessions(outcomes, ids, candidates)
    _add_reviews(ids, candidates)
    patients_pgic = _add_answers(outcomes, ids, candidates)
    for course_id, outcome in outcomes.items():
        scores = candidates[course_id]
        with_nrs = _newest(*(score for score in scores if score.nrs is not None))
        with_peg = _newest(*(score for score in scores if score.peg is not None))
        reviewed = _newest(*(score for score in scores if score.pgic is not None))
        outcome.end_nrs = with_nrs.nrs if with_nrs else None
        outcome.end_peg = with_peg.peg if with_peg else None
        # The patient's own end-of-course answer, else what the clinician recorded on closing, else a review's.
        outcome.final_pgic = patients_pgic.get(course_id) or recorded_pgic[course_id] or (
            reviewed.pgic if reviewed else None)  # fmt: skip
    return list(outcomes.values())


def _add_sessions(outcomes: dict[int, CourseOutcome], ids: QuerySet, candidates: dict[int, list[Score]]) -> None:
    """Signed sessions, one row per course: how many, who signed the first, the nerves injected, the adverse events,
    and the newest pain before an injection as a candidate for the end score. Sites and events are joined, so
    sessions and events are counted once each."""
    signed = InjectionSession.objects.filter(course_id__in=ids, signed_at__isnull=False)
    scored = Q(pre_nrs__isnull=False)
    per_course = (
        signed.values("course_id")
        .order_by()
        .annotate(
            count=Count("pk", distinct=True),
            first_clinician=_first("clinician_id", ("performed_at", "pk"), IntegerField()),
            newest_at=Max("performed_at", filter=scored),
            newest_nrs=_first("pre_nrs", ("-performed_at", "-pk"), IntegerField(), filter=scored),
            nerves=ArrayAgg("sites__nerve_id", distinct=True),
            events=Count("adverse_events", distinct=True),
        )
    )
    for course_id, count, clinician_id, at, nrs, nerves, events in per_course.values_list(
        "course_id", "count", "first_clinician", "newest_at", "newest_nrs", "nerves", "events"
    ):
        outcome = outcomes[course_id]
        outcome.signed_sessions, outcome.clinician_id, outcome.adverse_events = count, clinician_id, events
        outcome.nerve_ids = {nerve for nerve in nerves if nerve is not None}
        if nrs is not None:
            candidates[course_id].append(Score(at, nrs=nrs))


def _add_reviews(ids: QuerySet, candidates: dict[int, list[Score]]) -> None:
    """The newest review of each course: its pain, PEG and impression of change are candidates."""
    reviews = _newest_per_course(Assessment.objects.filter(course_id__in=ids, kind=AssessmentKind.REVIEW),
                                 "assessed_at")  # fmt: skip
    for course_id, at, nrs, average, enjoyment, activity, pgic in reviews.values_list(
        "course_id", "assessed_at", "nrs_current", "nrs_average", "peg_enjoyment", "peg_activity", "pgic"
    ):
        candidates[course_id].append(Score(at, nrs=nrs, peg=peg_score(average, enjoyment, activity), pgic=pgic))


def _add_answers(outcomes: dict[int, CourseOutcome], ids: QuerySet, candidates: dict[int, list[Score]]) -> dict:
    """What the patients were asked and answered, in one query: every request after the course (to count those
    sent and answered) and every answered one, with its answer. The newest answer before a session or at the end
    with a pain or PEG score is a candidate for the end score; follow-ups go to their 3- or 6-month band. Returns
    each course's newest end-of-course impression of change, the patient's own."""
    requests = (
        MeasureRequest.objects.filter(course_id__in=ids)
        .filter(Q(moment=Moment.AFTER_COURSE) | Q(answered_at__isnull=False))
        .order_by()
    )
    follow_up_sent = Q(moment=Moment.AFTER_COURSE, sent_at__isnull=False, cancelled_at__isnull=True)
    rows = requests.annotate(sent=ExpressionWrapper(follow_up_sent, output_field=BooleanField())).values_list(
        "course_id", "moment", "days_after_course", "sent", "report__pk", "report__submitted_at",
        "report__nrs_now", "report__nrs_average", "report__peg_enjoyment", "report__peg_activity", "report__pgic",
        "report__further_treatment",
    )  # fmt: skip
    newest_end: dict = {}
    patients_pgic: dict = {}
    follow_ups: dict = {}
    for course_id, moment, days, sent, report, at, nrs, average, enjoyment, activity, pgic, further in rows:
        outcome = outcomes[course_id]
        if sent:
            outcome.follow_ups_sent += 1
            outcome.follow_ups_answered += report is not None
        if report is None:
            continue
        newest = (at, report)
        if moment in END_MOMENTS and (nrs is not None or activity is not None):
            _keep(newest_end, course_id, newest, (at, nrs, average, enjoyment, activity))
        if moment == Moment.COURSE_END and pgic is not None:
            _keep(patients_pgic, course_id, newest, pgic)
        months = _band(days) if moment == Moment.AFTER_COURSE else None
        if months is not None and days is not None:
            # Per band, the answer asked nearest the band's mark; of two as near, the later answer.
            _keep(follow_ups, (course_id, months), (-abs(days - FOLLOW_UP_MARKS[months]), newest), (nrs, further, at))
    for course_id, (_, (at, nrs, average, enjoyment, activity)) in newest_end.items():
        candidates[course_id].append(Score(at, nrs=nrs, peg=peg_score(average, enjoyment, activity)))
    for (course_id, months), (_, (nrs, further, at)) in follow_ups.items():
        outcomes[course_id].follow_up_nrs[months] = nrs
        outcomes[course_id].further_treatment[months] = further
        outcomes[course_id].follow_up_on[months] = timezone.localdate(at)
    return {course_id: pgic for course_id, (_, pgic) in patients_pgic.items()}


def _keep(best: dict, key: object, rank: tuple, value: object) -> None:
    """Keep `value` under `key` when its `rank` is the highest so far."""
    if key not in best or best[key][0] < rank:
        best[key] = (rank, value)


def median(values: Iterable) -> Decimal | None:
    """The median of the known values (the mean of the middle two for an even count), None when there are none."""
    ordered = sorted(Decimal(value) for value in values if value is not None)
    if not ordered:
        return None
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2
