"""The outcomes report page and its CSV: every figure on a worked example computed here by hand, "too few" for
small groups, the period, who may see it, and a seeded clinic whose figures the test works out on its own."""

import csv
import io
import random
import statistics
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

import pytest
from django.urls import reverse

from accounts.models import Role
from audit.models import Action, AuditEvent
from outcomes.models import Moment
from outcomes.report import CSV_HEADER, MIN_COURSES_FOR_RATES
from patients.models import Condition
from tests.factories import UserFactory
from tests.outcomes.builders import PageTables, ask, close, course, days_ago, nerve, review, session
from treatments.models import CourseStatus

pytestmark = pytest.mark.django_db

URL = reverse("outcomes:report")
EXPORT_URL = reverse("outcomes:report_export")
TOO_FEW_ROW = ["too few"] * 9


def tables(client, **period) -> dict[str, list[list[str]]]:
    response = client.get(URL, period)
    assert response.status_code == 200, response.content[:500]
    return PageTables(response.text).tables


def row(found: dict, table: str, group: str) -> list[str]:
    (matching,) = [cells for cells in found[table] if cells[0] == group]
    return matching[1:]


# --- A worked example ------------------------------------------------------------------------------------------


@pytest.fixture
def low_back_pain(clinician):
    """Six low-back-pain courses started 100 days ago, all by one clinician:

    c1 completed: baseline 8, PEG 7.0 -> sessions 7, 6, 4, review 4 with PEG 3.0; PGIC 1; 3 months 5, 6 months 7.
    c2 completed: baseline 8, PEG 7.0 -> session 6, review 6 with PEG 5.0; PGIC 3; 3-month question unanswered.
    c3 discontinued: baseline 10, PEG 8.7 -> sessions 9, 7, then the patient's end answer 7, PEG 5.0; PGIC 2;
       3 months 8, 6-month question unanswered.
    c4 active: baseline 8 -> session 5 (a running course is not yet an outcome).
    c5 completed: no baseline -> session 3.
    c6 discontinued: baseline 6 -> session 6."""
    c1 = course(baseline=8, peg=(7, 6, 8), clinician=clinician, started=100)
    for number, pain, days in ((1, 7, 90), (2, 6, 80), (3, 4, 70)):
        session(c1, number, pain, days=days)
    review(c1, 4, days=60, peg=(3, 3, 3))
    close(c1, final_pgic=1)
    ask(c1, Moment.AFTER_COURSE, days=20, after_course=91, nrs=5)
    ask(c1, Moment.AFTER_COURSE, days=10, after_course=182, nrs=7)

    c2 = course(baseline=8, peg=(7, 6, 8), clinician=clinician, started=100)
    session(c2, 1, 6, days=90)
    review(c2, 6, days=60, peg=(6, 5, 4))
    close(c2, final_pgic=3)
    ask(c2, Moment.AFTER_COURSE, days=20, after_course=91, answered=False)

    c3 = course(baseline=10, peg=(9, 9, 8), clinician=clinician, started=100)
    session(c3, 1, 9, days=90)
    session(c3, 2, 7, days=80)
    close(c3, CourseStatus.DISCONTINUED, final_pgic=2)
    ask(c3, Moment.COURSE_END, days=70, nrs=7, peg=(5, 5, 5))
    ask(c3, Moment.AFTER_COURSE, days=20, after_course=91, nrs=8)
    ask(c3, Moment.AFTER_COURSE, days=10, after_course=182, answered=False)

    c4 = course(baseline=8, clinician=clinician, started=100)
    session(c4, 1, 5, days=90)

    c5 = course(baseline=None, clinician=clinician, started=100)
    session(c5, 1, 3, days=90)
    close(c5)

    c6 = course(baseline=6, clinician=clinician, started=100)
    session(c6, 1, 6, days=90)
    close(c6, CourseStatus.DISCONTINUED)
    return [c1, c2, c3, c4, c5, c6]


# Worked out from the fixture's docstring:
LOW_BACK_PAIN_ROW = [
    "6",  # courses started
    "3",  # completed: c1, c2, c5
    # Closed with a baseline and an end score: c1 (8 -> 4, 50%), c2 (8 -> 6, 25%), c3 (10 -> 7, 30%), c6 (6 -> 6).
    "2/4 (50%)",  # ≥ 30%: c1, c3
    "1/4 (25%)",  # ≥ 50%: c1
    "2.5 better (n=4)",  # changes 4, 2, 3, 0: sorted 0 2 | 3 4, so (2 + 3) / 2
    "3.7 better (n=3)",  # PEG: c1 7.0 - 3.0 = 4.0, c2 7.0 - 5.0 = 2.0, c3 8.7 - 5.0 = 3.7: the middle one
    "2/3 (67%)",  # PGIC of the closed courses: 1 (c1) and 2 (c3) improved, 3 (c2) not
    "1/2 (50%)",  # 3 months, responders who answered: c1 5 of baseline 8 (37.5% better), c3 8 of 10 (20%)
    "0/1 (0%)",  # 6 months: c1 7 of 8 (12.5%); c3 did not answer
    "3/5 (60%)",  # follow-ups sent: c1 2 (both answered), c2 1 (not), c3 2 (one answered)
    "2.5 (n=2)",  # signed sessions of the responders: c1 3, c3 2
]


def test_the_worked_example(clinician_client, low_back_pain, clinician):
    found = tables(clinician_client)
    assert row(found, "By condition", "Low back pain") == LOW_BACK_PAIN_ROW
    assert row(found, "All courses", "All courses") == LOW_BACK_PAIN_ROW
    assert row(found, "By clinician", "Alice Carter") == LOW_BACK_PAIN_ROW
    assert row(found, "By nerve treated", nerve(0).name) == LOW_BACK_PAIN_ROW


def test_a_draft_never_counts_even_with_pain_0(clinician_client, low_back_pain):
    c2 = low_back_pain[1]
    session(c2, 2, 0, days=50, signed=False, nerves=[nerve(5)])  # after the review: newest, if it counted
    found = tables(clinician_client)
    assert row(found, "By condition", "Low back pain") == LOW_BACK_PAIN_ROW
    assert [cells[0] for cells in found["By nerve treated"]] == [nerve(0).name]


def test_the_patients_end_answer_counts_and_a_three_month_answer_does_not(clinician_client, clinician):
    courses = []
    for _ in range(5):
        treated = course(baseline=10, clinician=clinician, started=100)
        session(treated, 1, 8, days=90)  # 20% better: not a responder
        close(treated)
        courses.append(treated)
    assert row(tables(clinician_client), "All courses", "All courses")[2] == "0/5 (0%)"
    ask(courses[0], Moment.COURSE_END, days=80, nrs=4)  # the patient, later than the session: 60% better
    ask(courses[1], Moment.AFTER_COURSE, days=5, after_course=91, nrs=1)  # months later: durability only
    cells = row(tables(clinician_client), "All courses", "All courses")
    assert cells[2:5] == ["1/5 (20%)", "1/5 (20%)", "2 better (n=5)"]  # changes 6, 2, 2, 2, 2
    assert cells[7] == "0/0"  # the responder was not followed up; the one who answered at 3 months did not respond


def test_four_courses_are_too_few_and_five_show_rates(clinician_client, clinician):
    for _ in range(MIN_COURSES_FOR_RATES - 1):
        treated = course(condition="osteoarthritis", baseline=8, clinician=clinician, started=100)
        session(treated, 1, 4, days=90)
        close(treated, final_pgic=2)
    found = tables(clinician_client)
    assert row(found, "By condition", "Osteoarthritis") == ["4", "4", *TOO_FEW_ROW]
    assert row(found, "All courses", "All courses") == ["4", "4", *TOO_FEW_ROW]
    fifth = course(condition="osteoarthritis", baseline=8, clinician=clinician, started=100)
    session(fifth, 1, 8, days=90)
    close(fifth, CourseStatus.DISCONTINUED, final_pgic=4)
    cells = row(tables(clinician_client), "By condition", "Osteoarthritis")
    assert cells == ["5", "4", "4/5 (80%)", "4/5 (80%)", "4 better (n=5)", "none (n=0)", "4/5 (80%)", "0/0", "0/0",
                     "0/0", "1.0 (n=4)"]  # fmt: skip


def test_too_few_in_one_group_leaves_the_others_rates(clinician_client, low_back_pain, clinician):
    other = course(condition="osteoarthritis", baseline=8, clinician=clinician, started=100)
    session(other, 1, 4, days=90)
    found = tables(clinician_client)
    assert row(found, "By condition", "Osteoarthritis") == ["1", "0", *TOO_FEW_ROW]
    assert row(found, "By condition", "Low back pain") == LOW_BACK_PAIN_ROW
    assert row(found, "All courses", "All courses")[:3] == ["7", "3", "2/4 (50%)"]


def test_the_chart_draws_each_conditions_responders_and_says_them_in_words(clinician_client, low_back_pain):
    other = course(condition="osteoarthritis", baseline=8, started=100)
    session(other, 1, 4, days=90)
    response = clinician_client.get(URL)
    chart = response.text[response.text.index("<svg") : response.text.index("</svg>")]
    assert 'role="img"' in chart
    assert "Low back pain: 2 of 4 (50%)." in chart
    assert "Osteoarthritis: too few courses to show a rate." in chart
    assert chart.count("<rect x=") == 1  # one bar: the group with too few has none
    assert ">2/4 (50%)</text>" in chart and ">too few</text>" in chart


def test_no_courses_in_the_period(clinician_client):
    response = clinician_client.get(URL)
    assert response.status_code == 200
    found = PageTables(response.text).tables
    assert found["All courses"] == [["All courses", "0", "0", *TOO_FEW_ROW]]
    assert "No courses in this period." in response.text
    assert "no courses in this period" in response.text  # the chart's description


# --- The period -------------------------------------------------------------------------------------------------


def test_the_default_period_is_the_last_twelve_months(clinician_client, clinician):
    course(clinician=clinician, started=400)
    course(clinician=clinician, started=300)
    course(clinician=clinician, started=0)
    response = clinician_client.get(URL)
    assert row(PageTables(response.text).tables, "All courses", "All courses")[0] == "2"
    assert f'value="{days_ago(365).isoformat()}"' in response.text
    assert f'value="{days_ago(0).isoformat()}"' in response.text


def test_a_period_counts_the_courses_started_in_it_both_days_included(clinician_client, clinician):
    for started in (400, 300, 200, 100):
        course(clinician=clinician, started=started)
    period = {"started_from": days_ago(300).isoformat(), "started_to": days_ago(200).isoformat()}
    assert row(tables(clinician_client, **period), "All courses", "All courses")[0] == "2"
    only_from = {"started_from": days_ago(450).isoformat()}  # to: today
    assert row(tables(clinician_client, **only_from), "All courses", "All courses")[0] == "4"
    two_years = {"started_from": "2024-01-01", "started_to": "2026-01-01"}  # 731 days: the longest allowed
    assert clinician_client.get(URL, two_years).status_code == 200


@pytest.mark.parametrize(
    ("period", "message"),
    [
        ({"started_from": "31/02/2026"}, "Enter a date"),
        ({"started_to": "yesterday"}, "Enter a date"),
        ({"started_from": "2026-03-01", "started_to": "2026-02-01"}, "on or before"),
        ({"started_from": "1850-01-01"}, "Pick a date in 1900 or later"),
        ({"started_to": "3100-01-01"}, "before the year 3000"),
        ({"started_from": "99999999-01-01"}, "Enter a date"),
        ({"started_from": "2024-01-01", "started_to": "2026-01-02"}, "at most two years"),
    ],
)
def test_a_bad_period_is_a_400_with_its_message_and_no_export(clinician_client, period, message):
    response = clinician_client.get(URL, period)
    assert response.status_code == 400
    assert message in response.text
    assert "outcomes-export" not in response.text
    export = clinician_client.get(EXPORT_URL, period)
    assert export.status_code == 400
    assert message in export.text
    assert not AuditEvent.objects.filter(action=Action.EXPORT).exists()


# --- The CSV ----------------------------------------------------------------------------------------------------


def _csv(response) -> list[list[str]]:
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_the_csv_is_what_the_page_shows(clinician_client, low_back_pain):
    small = course(condition="osteoarthritis", started=100)
    session(small, 1, 4, days=90, nerves=[nerve(2)])
    period = {"started_from": days_ago(150).isoformat(), "started_to": days_ago(50).isoformat()}
    page = tables(clinician_client, **period)
    header, *rows = _csv(clinician_client.get(EXPORT_URL, period))
    assert header == CSV_HEADER
    assert rows == [[title, *cells] for title, table in page.items() for cells in table]
    assert ["By condition", "Osteoarthritis", "1", "0", *TOO_FEW_ROW] in rows
    assert ["By condition", "Low back pain", *LOW_BACK_PAIN_ROW] in rows


def test_the_export_is_audited_with_its_period_and_no_patient(manager_client, manager, low_back_pain):
    period = {"started_from": days_ago(150).isoformat(), "started_to": days_ago(50).isoformat()}
    _csv(manager_client.get(EXPORT_URL, period))
    event = AuditEvent.objects.get(action=Action.EXPORT)
    assert event.actor == manager
    assert event.patient_id is None
    assert event.detail == {"export": "outcomes_report", "format": "csv", "filters": period}


def test_the_export_link_carries_the_period_shown(clinician_client):
    response = clinician_client.get(URL)
    expected = f"{EXPORT_URL}?started_from={days_ago(365).isoformat()}&amp;started_to={days_ago(0).isoformat()}"
    assert expected in response.text


def test_a_csv_cell_that_would_be_a_formula_is_neutralised(clinician_client):
    Condition.objects.create(code="formula", name="=HYPERLINK(1)")
    course(condition="formula", started=100)
    rows = _csv(clinician_client.get(EXPORT_URL))
    assert ["By condition", "'=HYPERLINK(1)", "1", "0", *TOO_FEW_ROW] in rows


# --- Who may see it -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["clinician_client", "manager_client"])
def test_clinicians_and_managers_see_the_report_and_its_link(request, persona):
    client = request.getfixturevalue(persona)
    response = client.get(reverse("home"), follow=True)
    assert f'href="{URL}"' in response.text
    assert client.get(URL).status_code == 200
    assert client.get(EXPORT_URL).status_code == 200


@pytest.mark.parametrize("persona", ["front_desk_client", "patient_client", "outsider_client"])
def test_everyone_else_is_refused(request, persona):
    client = request.getfixturevalue(persona)
    assert f'href="{URL}"' not in client.get(reverse("home"), follow=True).text
    assert client.get(URL).status_code == 403
    assert client.get(EXPORT_URL).status_code == 403
    assert not AuditEvent.objects.filter(action=Action.EXPORT).exists()


def test_anonymous_is_sent_to_sign_in(client):
    for url in (URL, EXPORT_URL):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


# --- A seeded clinic, worked out independently --------------------------------------------------------------


@dataclass
class Truth:
    """What the test put in the database for one course, from which it works out the report on its own."""

    condition: str
    clinician: str
    status: str
    baseline: int | None
    baseline_peg: tuple[int, int, int]
    # (days ago, pain, PEG items or None): signed sessions, reviews, the patient's answers before a session or at
    # the end; the newest is the end of the course.
    scores: list[tuple[float, int, tuple[int, int, int] | None]] = field(default_factory=list)
    nerves: set[str] = field(default_factory=set)
    signed: int = 0
    recorded_pgic: int | None = None
    review_pgic: int | None = None
    patient_pgic: int | None = None
    follow_up: dict[int, int] = field(default_factory=dict)  # 3 / 6 months -> pain then
    sent: int = 0
    answered: int = 0

    @property
    def end(self) -> int | None:
        return min(self.scores)[1] if self.scores else None

    @property
    def end_peg(self) -> Decimal | None:
        with_peg = [score for score in self.scores if score[2] is not None]
        return _peg(min(with_peg)[2]) if with_peg else None

    @property
    def closed(self) -> bool:
        return self.status != CourseStatus.ACTIVE

    @property
    def pgic(self) -> int | None:
        return self.patient_pgic or self.recorded_pgic or self.review_pgic


def _peg(items) -> Decimal:
    return (Decimal(sum(items)) / 3).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def _share(numerator: int, denominator: int) -> str:
    if not denominator:
        return f"{numerator}/{denominator}"
    percent = (Decimal(100 * numerator) / denominator).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return f"{numerator}/{denominator} ({percent}%)"


def _better(baseline: int, later: int, percent: int) -> bool:
    return (baseline - later) * 100 >= percent * baseline


def _change(values: list) -> str:
    if not values:
        return "none (n=0)"
    middle = Decimal(str(statistics.median(values))).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    if middle == 0:
        return f"no change (n={len(values)})"
    size = f"{abs(middle):f}".removesuffix(".0")
    return f"{size} {'better' if middle > 0 else 'worse'} (n={len(values)})"


def expected(courses: list[Truth]) -> list[str]:
    started, completed = len(courses), sum(c.status == CourseStatus.COMPLETED for c in courses)
    if started < 5:
        return [str(started), str(completed), *TOO_FEW_ROW]
    measured = [c for c in courses if c.closed and c.baseline and c.end is not None]
    responders = [c for c in measured if _better(c.baseline, c.end, 30)]
    with_pgic = [c for c in courses if c.closed and c.pgic is not None]
    durable = []
    for months in (3, 6):
        answered = [c for c in responders if months in c.follow_up]
        durable.append(_share(sum(_better(c.baseline, c.follow_up[months], 30) for c in answered), len(answered)))
    sessions = [c.signed for c in responders]
    mean = (Decimal(sum(sessions)) / len(sessions)).quantize(Decimal("0.1"), ROUND_HALF_UP) if sessions else None
    return [
        str(started),
        str(completed),
        _share(len(responders), len(measured)),
        _share(sum(_better(c.baseline, c.end, 50) for c in measured), len(measured)),
        _change([c.baseline - c.end for c in measured]),
        _change([_peg(c.baseline_peg) - c.end_peg for c in measured if c.end_peg is not None]),
        _share(sum(c.pgic in (1, 2) for c in with_pgic), len(with_pgic)),
        *durable,
        _share(sum(c.answered for c in courses), sum(c.sent for c in courses)),
        f"{mean} (n={len(sessions)})" if mean is not None else "none (n=0)",
    ]


CONDITIONS = ("low-back-pain", "osteoarthritis", "tendinitis")


def _seed_clinic(rng: random.Random, clinicians: dict) -> list[Truth]:
    """About 30 courses across 3 conditions, 2 clinicians and 5 nerves, every kind of score and answer."""
    nerves = [nerve(number) for number in range(5)]
    truths = []
    for index in range(30):
        condition = rng.choice(CONDITIONS)
        name, clinician = rng.choice(list(clinicians.items()))
        started = rng.randint(200, 330)
        status = rng.choice([CourseStatus.ACTIVE, CourseStatus.COMPLETED, CourseStatus.COMPLETED,
                             CourseStatus.DISCONTINUED])  # fmt: skip
        baseline = None if index % 9 == 4 else (0 if index == 7 else rng.randint(4, 10))
        peg = (rng.randint(3, 10), rng.randint(3, 10), rng.randint(3, 10))
        truth = Truth(condition, name, status, baseline, peg)
        treated = course(condition=condition, baseline=baseline, peg=peg, clinician=clinician, started=started)
        pain = baseline if baseline is not None else 8
        for number in range(1, rng.randint(1, 4) + 1):
            days = started - 10 * number
            pain = max(0, min(10, pain - rng.choice((0, 0, 1, 1, 2))))
            injected = rng.sample(nerves[:4], rng.randint(1, 2))
            session(treated, number, pain, days=days, nerves=injected)
            truth.scores.append((days, pain, None))
            truth.nerves |= {n.name for n in injected}
            truth.signed += 1
            if rng.random() < 0.3:
                answer = max(0, min(10, pain + rng.choice((-1, 0, 1))))
                ask(treated, Moment.BEFORE_SESSION, days=days + 2, nrs=answer)
                truth.scores.append((days + 2 - 1 / 24, answer, None))  # answered an hour after it was sent
        if rng.random() < 0.4:  # a draft after the review, on a nerve no signed session had: the newest, if it counted
            session(treated, 9, 0, days=145, nerves=[nerves[4]], signed=False)
        if rng.random() < 0.5:
            reviewed, review_peg = rng.randint(0, 8), (rng.randint(0, 8), rng.randint(0, 8), rng.randint(0, 8))
            truth.review_pgic = rng.choice((None, 2, 3, 5))
            review(treated, reviewed, days=150, pgic=truth.review_pgic, peg=review_peg)
            truth.scores.append((150, reviewed, review_peg))
        if status != CourseStatus.ACTIVE:
            truth.recorded_pgic = rng.choice((None, 1, 2, 3, 4, 6))
            close(treated, status, final_pgic=truth.recorded_pgic)
            if rng.random() < 0.5:
                end, end_peg = rng.randint(0, 9), (rng.randint(0, 9), rng.randint(0, 9), rng.randint(0, 9))
                truth.patient_pgic = rng.choice((None, 1, 3))
                ask(treated, Moment.COURSE_END, days=140, nrs=end, peg=end_peg, pgic=truth.patient_pgic)
                truth.scores.append((140 - 1 / 24, end, end_peg))
            for months, after_course, days in ((3, 91, 60), (6, 182, 10)):
                fate = rng.choice(("answered", "answered", "unanswered", "cancelled", "not sent"))
                later = rng.randint(0, 10)
                ask(treated, Moment.AFTER_COURSE, days=days, after_course=after_course, nrs=later,
                    sent=fate != "not sent", answered=fate == "answered", cancelled=fate == "cancelled")  # fmt: skip
                truth.sent += fate in ("answered", "unanswered")
                truth.answered += fate == "answered"
                if fate == "answered":
                    truth.follow_up[months] = later
        truths.append(truth)
    return truths


def test_a_seeded_clinic_matches_a_computation_of_its_own(manager_client):
    clinicians = {
        "Ada Byrne": UserFactory(first_name="Ada", last_name="Byrne", role=Role.CLINICIAN),
        "Ben Cole": UserFactory(first_name="Ben", last_name="Cole", role=Role.CLINICIAN),
    }
    names = dict(Condition.objects.filter(code__in=CONDITIONS).values_list("code", "name"))
    truths = _seed_clinic(random.Random(20), clinicians)
    for outside in (400, 2):  # started before the period, and after it
        course(clinician=clinicians["Ada Byrne"], started=outside)
    period = {"started_from": days_ago(340).isoformat(), "started_to": days_ago(190).isoformat()}
    found = tables(manager_client, **period)

    assert found["All courses"] == [["All courses", *expected(truths)]]
    by_condition = {names[code]: [t for t in truths if t.condition == code] for code in CONDITIONS}
    assert {cells[0]: cells[1:] for cells in found["By condition"]} == {
        name: expected(group) for name, group in by_condition.items() if group
    }
    assert {cells[0]: cells[1:] for cells in found["By clinician"]} == {
        name: expected([t for t in truths if t.clinician == name]) for name in clinicians
    }
    nerve_names = sorted({name for t in truths for name in t.nerves})
    assert {cells[0]: cells[1:] for cells in found["By nerve treated"]} == {
        name: expected([t for t in truths if name in t.nerves]) for name in nerve_names
    }
    assert nerve(4).name not in nerve_names  # only ever injected in drafts
    # The data set exercises what it is meant to: rates shown, and groups too small for them.
    shown = [cells for table in found.values() for cells in table]
    assert any(cells[3] != "too few" for cells in shown)
    assert sum(not t.closed for t in truths) and sum(t.patient_pgic is not None for t in truths)
    assert any(len(t.follow_up) for t in truths) and any(t.baseline == 0 for t in truths)
