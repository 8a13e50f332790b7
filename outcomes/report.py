"""The outcomes report: the courses started in a period, their outcomes (outcomes.facts) counted for all of them, by
condition, by clinician and by nerve treated. The page and its CSV show the same cells: every figure is worked out
and written out here, once, and both only lay the words out.

What each column counts (the page states the same, beside the tables):
- Courses started in the period; of them, completed.
- Responders: closed courses (completed or discontinued) whose pain fell by at least 30% (and 50%) from the
  baseline to the end of the course, out of the closed courses with a baseline above 0 and an end score.
- Median change in NRS and in PEG: baseline minus end of course, over the same closed courses (PEG: those with
  both PEG scores).
- PGIC improved: closed courses whose final impression of change is "much" or "very much improved", out of those
  with one.
- Durability at 3 and 6 months: responders whose pain at that follow-up is still at least 30% below baseline, out
  of the responders who answered then.
- Follow-up response rate: follow-up questions answered, out of those sent (less any cancelled as no longer needed).
- Sessions per responder: the mean number of signed sessions of the responding courses.
"""

import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db.models import QuerySet, Subquery

from assessments.models import Nerve
from outcomes.facts import RESPONDED, CourseOutcome, course_outcomes, median
from outcomes.models import PatientReport
from patients.models import Condition
from treatments.models import TreatmentCourse

# A group of fewer courses than this shows "too few" in place of every rate, median and mean: with so few, a figure
# can point at one patient, and one course more or less swings it so far that it misleads.
MIN_COURSES_FOR_RATES = 5
TOO_FEW = "too few"
NO_SIGNED_SESSION = "No signed session yet"
FOLLOW_UP_MONTHS = (3, 6)
NAME_FIELDS = ("first_name", "last_name", "username")

COLUMNS = [
    "Courses started",
    "Completed",
    "Responders ≥30%",
    "Responders ≥50%",
    "Median NRS change (points)",
    "Median PEG change",
    "PGIC much or very much improved",
    "Still ≥30% better at 3 months",
    "Still ≥30% better at 6 months",
    "Follow-up response rate",
    "Sessions per responder",
]
CSV_HEADER = ["table", "group", *COLUMNS]


@dataclass(frozen=True)
class Rate:
    """`numerator` out of `denominator`, always shown with both: "6/10 (60%)"; "0/0" when there is nothing to
    count."""

    numerator: int
    denominator: int

    @property
    def percent(self) -> int | None:
        if not self.denominator:
            return None
        return int((Decimal(self.numerator * 100) / self.denominator).quantize(Decimal(1), rounding=ROUND_HALF_UP))

    def __str__(self) -> str:
        fraction = f"{self.numerator}/{self.denominator}"
        return fraction if self.percent is None else f"{fraction} ({self.percent}%)"


def _number(value: Decimal) -> str:
    return f"{value.normalize():f}"


def change_text(value: Decimal | None, count: int) -> str:
    """A median change from baseline with its direction in words (never a bare signed number) and how many
    courses it is the median of: "2.5 better (n=10)", "1 worse (n=6)", "no change (n=5)", "none (n=0)"."""
    if value is None:
        return "none (n=0)"
    if value == 0:
        return f"no change (n={count})"
    direction = "better" if value > 0 else "worse"
    return f"{_number(abs(value))} {direction} (n={count})"


def mean_text(values: list[int]) -> str:
    """The mean to one decimal (half up) and how many it is the mean of: "5.5 (n=4)", "6.0 (n=3)"."""
    if not values:
        return "none (n=0)"
    mean = (Decimal(sum(values)) / len(values)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    return f"{mean:f} (n={len(values)})"


@dataclass(frozen=True, slots=True)
class Counted:
    """What the report counts of one course, read from its outcome once (a course is counted in several groups)."""

    completed: bool
    measured: bool  # closed, with a baseline above 0 and an end score: its response is known
    responder: str
    nrs_change: int | None
    peg_change: Decimal | None
    pgic_improved: bool | None  # of a closed course
    still_better: dict[int, bool | None]  # months -> of a responder who answered then
    follow_ups_sent: int
    follow_ups_answered: int
    signed_sessions: int

    @classmethod
    def of(cls, outcome: CourseOutcome) -> "Counted":
        responder = outcome.responder
        return cls(
            completed=outcome.completed,
            measured=outcome.closed and responder != "unknown",
            responder=responder,
            nrs_change=outcome.nrs_change,
            peg_change=outcome.peg_change,
            pgic_improved=outcome.pgic_improved if outcome.closed else None,
            still_better={months: outcome.still_better(months) for months in FOLLOW_UP_MONTHS},
            follow_ups_sent=outcome.follow_ups_sent,
            follow_ups_answered=outcome.follow_ups_answered,
            signed_sessions=outcome.signed_sessions,
        )


@dataclass(frozen=True)
class Figures:
    """One group's figures (the courses under one condition, clinician or nerve, or all of them)."""

    started: int
    completed: int
    responders_30: Rate
    responders_50: Rate
    nrs_changes: list[int]
    peg_changes: list[Decimal]
    pgic_improved: Rate
    durable: dict[int, Rate]  # months -> still ≥ 30% better among the responders who answered then
    follow_ups: Rate
    responder_sessions: list[int]

    @classmethod
    def of(cls, outcomes: list[Counted]) -> "Figures":
        measured = [o for o in outcomes if o.measured]
        responders = [o for o in measured if o.responder in RESPONDED]
        with_pgic = [o for o in outcomes if o.pgic_improved is not None]
        durable = {}
        for months in FOLLOW_UP_MONTHS:
            answered = [o.still_better[months] for o in responders if o.still_better[months] is not None]
            durable[months] = Rate(sum(bool(better) for better in answered), len(answered))
        return cls(
            started=len(outcomes),
            completed=sum(o.completed for o in outcomes),
            responders_30=Rate(len(responders), len(measured)),
            responders_50=Rate(sum(o.responder == "substantial" for o in measured), len(measured)),
            nrs_changes=[o.nrs_change for o in measured if o.nrs_change is not None],
            peg_changes=[o.peg_change for o in measured if o.peg_change is not None],
            pgic_improved=Rate(sum(bool(o.pgic_improved) for o in with_pgic), len(with_pgic)),
            durable=durable,
            follow_ups=Rate(sum(o.follow_ups_answered for o in outcomes), sum(o.follow_ups_sent for o in outcomes)),
            responder_sessions=[o.signed_sessions for o in responders],
        )

    @property
    def too_few(self) -> bool:
        return self.started < MIN_COURSES_FOR_RATES

    def cells(self) -> list[str]:
        """The row's cells, in COLUMNS order, as the page and the CSV show them."""
        counts = [str(self.started), str(self.completed)]
        if self.too_few:
            return counts + [TOO_FEW] * (len(COLUMNS) - len(counts))
        return [
            *counts,
            str(self.responders_30),
            str(self.responders_50),
            change_text(median(self.nrs_changes), len(self.nrs_changes)),
            change_text(_one_decimal(median(self.peg_changes)), len(self.peg_changes)),
            str(self.pgic_improved),
            *(str(self.durable[months]) for months in FOLLOW_UP_MONTHS),
            str(self.follow_ups),
            mean_text(self.responder_sessions),
        ]


def _one_decimal(value: Decimal | None) -> Decimal | None:
    """PEG scores have one decimal; so does their median change (the mean of two middle values, half up)."""
    return None if value is None else value.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Row:
    label: str
    figures: Figures

    @property
    def cells(self) -> list[str]:
        return self.figures.cells()


@dataclass(frozen=True)
class Table:
    key: str
    title: str
    heading: str  # the first column's heading
    note: str
    rows: list[Row]


@dataclass(frozen=True)
class Report:
    started_from: date
    started_to: date
    overall: Row
    tables: list[Table]

    @property
    def all_tables(self) -> list[Table]:
        """The tables in the page's order: all courses first, then the groupings."""
        return [Table("all", "All courses", "", "", [self.overall]), *self.tables]

    def csv_rows(self) -> Iterator[list[str]]:
        """Every row of every table, as on the page: the table's title, the group, then the cells."""
        for table in self.all_tables:
            for row in table.rows:
                yield [table.title, row.label, *row.cells]


def courses_started(started_from: date, started_to: date) -> QuerySet[TreatmentCourse]:
    return TreatmentCourse.objects.filter(started_on__gte=started_from, started_on__lte=started_to)


def _grouped(
    courses: Iterable[tuple[CourseOutcome, Counted]],
    keys: Callable[[CourseOutcome], Iterable],
    labels: dict,
    unnamed: str = "",
) -> list[Row]:
    """One row per key some course has, in the order of `labels`, each with its courses; a key without a label
    (a course with no signed session has no clinician) comes last, as `unnamed`."""
    groups: dict = defaultdict(list)
    for outcome, counted in courses:
        for key in keys(outcome):
            groups[key].append(counted)
    ordered = [key for key in labels if key in groups] + [key for key in groups if key not in labels]
    return [Row(labels.get(key, unnamed), Figures.of(groups[key])) for key in ordered]


def _clinician_labels(ids: set[int | None]) -> dict:
    """The clinicians' names by id, in alphabetical order."""
    users = get_user_model().objects.filter(pk__in=[pk for pk in ids if pk is not None])
    named = {user.pk: user.get_full_name() or user.get_username() for user in users.only(*NAME_FIELDS)}
    return dict(sorted(named.items(), key=lambda item: item[1].casefold()))


def outcomes_report(started_from: date, started_to: date) -> Report:
    """The report for the courses started from `started_from` to `started_to`, both days included."""
    outcomes = course_outcomes(courses_started(started_from, started_to))
    conditions = {c.pk: c.name for c in Condition.objects.filter(pk__in={o.condition_id for o in outcomes})}
    nerves = {n.pk: n.name for n in Nerve.objects.filter(pk__in={pk for o in outcomes for pk in o.nerve_ids})}
    clinicians = _clinician_labels({o.clinician_id for o in outcomes})
    courses = [(outcome, Counted.of(outcome)) for outcome in outcomes]
    tables = [
        Table("condition", "By condition", "Condition", "", _grouped(courses, lambda o: [o.condition_id], conditions)),
        Table(
            "clinician",
            "By clinician",
            "Clinician",
            "Each course under the clinician who signed its first session.",
            _grouped(courses, lambda o: [o.clinician_id], clinicians, NO_SIGNED_SESSION),
        ),
        Table(
            "nerve",
            "By nerve treated",
            "Nerve",
            "A course counts under every nerve injected in its signed sessions, so the rows add up to more "
            "courses than were started; courses with no signed session are under no nerve.",
            _grouped(courses, lambda o: sorted(o.nerve_ids), nerves),
        ),
    ]
    overall = Row("All courses", Figures.of([counted for _, counted in courses]))
    return Report(started_from, started_to, overall, tables)


# --- Kept in Django's cache, under the data's version ----------------------------------------------------------

# A report is kept under its period and the data's version: the newest change of each table it reads. Every insert,
# update and delete of those is recorded by django-pghistory (their *Event tables, ids from a sequence); answers are
# insert-only and courses are counted from their newest id too. A change that commits after a later one was counted
# can carry the older id, so an entry also lapses after this long: the report is never older than that. Names of
# conditions, nerves and clinicians (reference rows) follow within the same time.
REPORT_CACHE_SECONDS = 300
CHANGES_READ = [
    "treatments.TreatmentCourseEvent",
    "treatments.InjectionSessionEvent",
    "treatments.InjectionSiteEvent",
    "treatments.AdverseEventEvent",
    "assessments.AssessmentEvent",
    "outcomes.MeasureRequestEvent",
]


def data_version() -> tuple | None:
    """The newest course's id and creation time (a database rebuilt from scratch reuses ids, never times) with the
    newest change of every table the report reads and the newest answer's id, in one query; None with no course."""
    newest = {
        label.replace(".", "_"): Subquery(apps.get_model(label).objects.order_by("-pgh_id").values("pgh_id")[:1])
        for label in CHANGES_READ
    }
    newest["answers"] = Subquery(PatientReport.objects.order_by("-pk").values("pk")[:1])
    row = TreatmentCourse.objects.order_by("-pk").annotate(**newest).values_list("pk", "created_at", *newest).first()
    return tuple(row) if row is not None else None


def cached_outcomes_report(started_from: date, started_to: date) -> Report:
    """outcomes_report, from the cache all web processes share when the data has not changed since it was counted."""
    version = data_version()
    if version is None:
        return outcomes_report(started_from, started_to)
    key = "outcomes:report:" + hashlib.sha256(repr((started_from, started_to, version)).encode()).hexdigest()
    report = cache.get(key)
    if report is None:
        report = outcomes_report(started_from, started_to)
        cache.set(key, report, REPORT_CACHE_SECONDS)
    return report
