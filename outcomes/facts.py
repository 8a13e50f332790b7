"""Each course's outcome in figures: the one reading of a course that the outcomes report and the registry
export both count from, so they never disagree.

What counts, and why:
- Only signed session notes (a draft may still change), the course's assessments, and what the patient reported.
- Baseline: the course's baseline assessment (pain now; PEG from its three items).
- End of course: the newest pain score before an injection, at a review, or reported by the patient before a
  session or at the end of the course; follow-up answers (after the course) are not the end, they are durability.
- Final impression of change (PGIC): the patient's own end-of-course answer, else what was recorded when the course
  closed, else the newest review's.
- Durability at 3 and 6 months: the follow-up answer nearest each mark (FOLLOW_UP_BANDS), compared with baseline.

Every reading is a handful of grouped queries over the courses asked for (DISTINCT ON per course for "the newest"),
the same number whatever their count."""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from assessments.models import PGIC, Assessment, AssessmentKind
from outcomes.models import MeasureRequest, Moment, PatientReport
from treatments.models import AdverseEvent, CourseStatus, InjectionSession, InjectionSite, TreatmentCourse
from treatments.outcomes import responder_status

# Follow-up answers count as "3 months" or "6 months" when asked this many days after the course ended (the
# clinic's schedule asks at 91 and 182 days by default, and may move them a little).
FOLLOW_UP_BANDS: dict[int, range] = {3: range(60, 121), 6: range(150, 241)}
IMPROVED_PGIC = (PGIC.VERY_MUCH_IMPROVED, PGIC.MUCH_IMPROVED)
RESPONDED = ("moderate", "substantial")
END_MOMENTS = (Moment.BEFORE_SESSION, Moment.COURSE_END)


def peg_of(pain: int | None, enjoyment: int | None, activity: int | None) -> Decimal | None:
    """PEG-3: the mean of its three items to one decimal (half up), None unless all three are known."""
    if pain is None or enjoyment is None or activity is None:
        return None
    return (Decimal(pain + enjoyment + activity) / 3).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


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


def course_outcomes(courses: QuerySet[TreatmentCourse]) -> list[CourseOutcome]:
    """The outcome of each course in `courses` (a queryset, used as a subquery by every reading)."""
    rows = courses.values_list(
        "pk", "patient_id", "condition_id", "status", "stop_reason", "started_on", "closed_on", "final_pgic",
        "baseline_assessment__nrs_current", "baseline_assessment__nrs_average",
        "baseline_assessment__peg_enjoyment", "baseline_assessment__peg_activity",
    )  # fmt: skip
    outcomes: dict[int, CourseOutcome] = {}
    recorded_pgic: dict[int, int | None] = {}
    for pk, patient, condition, status, stop, started, closed, pgic, nrs, average, enjoyment, activity in rows:
        outcomes[pk] = CourseOutcome(pk, patient, condition, status, stop, started, closed, nrs,
                                     peg_of(average, enjoyment, activity))  # fmt: skip
        recorded_pgic[pk] = pgic
    ids = courses.values("pk")
    _add_sessions(outcomes, ids)
    _add_end_scores(outcomes, ids, recorded_pgic)
    _add_follow_ups(outcomes, ids)
    _add_nerves_and_events(outcomes, ids)
    return list(outcomes.values())


def _add_sessions(outcomes: dict[int, CourseOutcome], ids: QuerySet) -> None:
    signed = InjectionSession.objects.filter(course_id__in=ids, signed_at__isnull=False)
    for course_id, count in signed.values_list("course_id").annotate(count=Count("pk")).order_by():
        outcomes[course_id].signed_sessions = count
    first = signed.order_by("course_id", "performed_at", "pk").distinct("course_id")
    for course_id, clinician_id in first.values_list("course_id", "clinician_id"):
        outcomes[course_id].clinician_id = clinician_id


def _end_candidates(ids: QuerySet) -> dict[int, list[Score]]:
    """The newest pain score of each source, per course: a signed session, a review, a patient's answer."""
    candidates: dict[int, list[Score]] = defaultdict(list)
    sessions = InjectionSession.objects.filter(course_id__in=ids, signed_at__isnull=False, pre_nrs__isnull=False)
    for course_id, at, nrs in _newest_per_course(sessions, "performed_at").values_list(
        "course_id", "performed_at", "pre_nrs"
    ):
        candidates[course_id].append(Score(at, nrs=nrs))
    reviews = Assessment.objects.filter(course_id__in=ids, kind=AssessmentKind.REVIEW)
    for course_id, at, nrs, average, enjoyment, activity, pgic in _newest_per_course(
        reviews, "assessed_at"
    ).values_list("course_id", "assessed_at", "nrs_current", "nrs_average", "peg_enjoyment", "peg_activity", "pgic"):
        candidates[course_id].append(Score(at, nrs=nrs, peg=peg_of(average, enjoyment, activity), pgic=pgic))
    reports = PatientReport.objects.filter(course_id__in=ids, request__moment__in=END_MOMENTS).filter(
        Q(nrs_now__isnull=False) | Q(peg_activity__isnull=False)
    )
    for course_id, at, nrs, average, enjoyment, activity, pgic in _newest_per_course(
        reports, "submitted_at"
    ).values_list("course_id", "submitted_at", "nrs_now", "nrs_average", "peg_enjoyment", "peg_activity", "pgic"):
        candidates[course_id].append(Score(at, nrs=nrs, peg=peg_of(average, enjoyment, activity), pgic=pgic))
    return candidates


def _add_end_scores(outcomes: dict[int, CourseOutcome], ids: QuerySet, recorded_pgic: dict[int, int | None]) -> None:
    patients_pgic = dict(
        _newest_per_course(
            PatientReport.objects.filter(course_id__in=ids, request__moment=Moment.COURSE_END, pgic__isnull=False),
            "submitted_at",
        ).values_list("course_id", "pgic")
    )
    for course_id, scores in _end_candidates(ids).items():
        outcome = outcomes[course_id]
        with_nrs = _newest(*(score for score in scores if score.nrs is not None))
        with_peg = _newest(*(score for score in scores if score.peg is not None))
        with_pgic = _newest(*(score for score in scores if score.pgic is not None))
        outcome.end_nrs = with_nrs.nrs if with_nrs else None
        outcome.end_peg = with_peg.peg if with_peg else None
        outcome.final_pgic = with_pgic.pgic if with_pgic else None
    for course_id, outcome in outcomes.items():
        # The patient's own end-of-course answer, else what the clinician recorded on closing, else a review's.
        outcome.final_pgic = patients_pgic.get(course_id) or recorded_pgic[course_id] or outcome.final_pgic


def _add_follow_ups(outcomes: dict[int, CourseOutcome], ids: QuerySet) -> None:
    answers = PatientReport.objects.filter(course_id__in=ids, request__moment=Moment.AFTER_COURSE).order_by(
        "submitted_at", "pk"
    )
    for course_id, days, nrs, further, submitted_at in answers.values_list(
        "course_id", "request__days_after_course", "nrs_now", "further_treatment", "submitted_at"
    ):
        months = _band(days)
        if months is not None:
            outcomes[course_id].follow_up_nrs[months] = nrs
            outcomes[course_id].further_treatment[months] = further
            outcomes[course_id].follow_up_on[months] = timezone.localdate(submitted_at)
    asked = MeasureRequest.objects.filter(course_id__in=ids, moment=Moment.AFTER_COURSE, sent_at__isnull=False)
    counts = asked.values_list("course_id").annotate(
        sent=Count("pk"), answered=Count("pk", filter=Q(answered_at__isnull=False))
    )
    for course_id, sent, answered in counts.order_by():
        outcomes[course_id].follow_ups_sent, outcomes[course_id].follow_ups_answered = sent, answered


def _add_nerves_and_events(outcomes: dict[int, CourseOutcome], ids: QuerySet) -> None:
    sites = InjectionSite.objects.filter(session__course_id__in=ids, session__signed_at__isnull=False)
    for course_id, nerve_id in sites.values_list("session__course_id", "nerve_id").distinct():
        outcomes[course_id].nerve_ids.add(nerve_id)
    events = AdverseEvent.objects.filter(session__course_id__in=ids, session__signed_at__isnull=False)
    for course_id, count in events.values_list("session__course_id").annotate(count=Count("pk")).order_by():
        outcomes[course_id].adverse_events = count


def median(values: Iterable) -> Decimal | None:
    """The median of the known values (the mean of the middle two for an even count), None when there are none."""
    ordered = sorted(Decimal(value) for value in values if value is not None)
    if not ordered:
        return None
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2
