"""The registry's minimum data set: one de-identified row per treatment course, over IMMPACT's core outcome
domains (pain intensity, physical function, global impression of change, adverse events, who stopped and why), and
the data dictionary that describes each column.

What a row may carry, and why. A registry pools rows from many clinics; a row must not lead back to a person:
- no names, clinic numbers, contact details, addresses or record ids: each row has a random id, drawn anew for
  every export, so rows cannot be linked to a course, a patient, or a row of another export;
- no dates: days counted from the course's start instead, and the age at the start in five-year bands (90+ as
  one band, as few people are that old);
- no free text (notes, the details of why a course stopped, of an adverse event): codes from the clinic's lists,
  and the condition by the clinic's name for it (reference data managers keep, never typed per patient).
The rows come in random order (the caller shuffles the courses), so their order says nothing about the courses.

Each course's outcome is read by outcomes.facts.course_outcomes, the same reading as the outcomes report; what a
row needs beyond it (age, sex, condition, adverse events by kind and severity) is read here, in two grouped
queries a batch. A batch costs the same number of queries whatever its size."""

import csv
import io
import secrets
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import BinaryIO

from django.db.models import Count
from django.template.loader import render_to_string

from assessments.models import PGIC, Nerve
from audit.exports import csv_safe
from outcomes.facts import FOLLOW_UP_BANDS, CourseOutcome, course_outcomes
from patients.models import Sex
from treatments.models import AdverseEvent, AdverseEventKind, CourseStatus, Severity, StopReason, TreatmentCourse

DATA_FILE = "data.csv"
DICTIONARY_FILE = "data_dictionary.csv"
README_FILE = "README.md"
# Courses read per batch: the outcome of each batch is a fixed handful of queries, and progress moves per batch.
BATCH_SIZE = 500
ROW_ID_BYTES = 8
LIST_SEPARATOR = ";"
OLDEST_BAND = 90  # and over: one band
BAND_YEARS = 5


@dataclass(frozen=True)
class Column:
    """One column of data.csv, as the data dictionary describes it."""

    name: str
    type: str
    units: str
    allowed_values: str
    derivation: str


def _codes(choices) -> str:
    return ", ".join(f"{value} ({label})" for value, label in choices)


def _follow_up_columns(months: int) -> list[Column]:
    band = FOLLOW_UP_BANDS[months]
    asked = f"the follow-up questions the patient answered {band.start}-{band.stop - 1} days after the course ended"
    return [
        Column(
            f"nrs_{months}_months", "integer", "NRS points", "0-10; blank if not answered or not asked",
            f"Pain now (0 no pain, 10 worst imaginable) in {asked} (the last such answer).",
        ),
        Column(
            f"nrs_{months}_months_day", "integer", "days", "0 or more; blank if not answered",
            f"Days from the course's start to the day the patient gave that answer ({months}-month follow-up).",
        ),
        Column(
            f"further_treatment_{months}_months", "text", "", "yes, no; blank if not answered or not asked",
            f"Whether the patient said, in {asked}, that they had needed further treatment for this pain.",
        ),
    ]  # fmt: skip


COLUMNS: tuple[Column, ...] = (
    Column(
        "row_id", "text", "", "16 hexadecimal characters",
        "Random, drawn anew for every row of every export: it names the row within this file only, and leads to no "
        "course, patient or row of another export.",
    ),
    Column(
        "age_band", "text", "years",
        "0-4, 5-9, ... 85-89 (five-year bands), 90+",
        "The patient's age on the day the course started, from their date of birth, in five-year bands; 90 and "
        "over is one band.",
    ),
    Column("sex", "text", "", _codes(Sex.choices), "As recorded on the patient's record."),
    Column(
        "condition", "text", "", "The clinic's list of conditions treated",
        "The condition the course treated, by the clinic's name for it (reference data from the clinic's list, "
        "never text typed for a patient).",
    ),
    Column(
        "status", "text", "", _codes(CourseStatus.choices),
        "Whether the course had been completed or discontinued when exported; active: still going, so its end "
        "values are the latest so far.",
    ),
    Column(
        "stop_reason", "text", "", f"{_codes(StopReason.choices)}; blank unless discontinued",
        "Why a discontinued course stopped, from the clinic's list. The details typed with it are never exported.",
    ),
    Column(
        "closed_day", "integer", "days", "0 or more; blank while active",
        "Days from the course's start to the day it was closed (completed or discontinued).",
    ),
    Column(
        "signed_sessions", "integer", "sessions", "0 or more",
        "Injection sessions of the course with a signed note (drafts are not counted).",
    ),
    Column(
        "nerves", "list of codes", "", f"Nerve codes from the clinic's nerve list, separated by '{LIST_SEPARATOR}'",
        "Every nerve injected at the course's signed sessions, each once, in alphabetical order; blank if none.",
    ),
    Column(
        "baseline_nrs", "integer", "NRS points", "0-10; blank if not recorded",
        "Pain now (0 no pain, 10 worst imaginable) at the course's baseline assessment.",
    ),
    Column(
        "end_nrs", "integer", "NRS points", "0-10; blank if none after baseline",
        "The newest pain score of the course: before an injection at a signed session, at a review assessment, or "
        "reported by the patient before a session or at the end of the course. Follow-up answers do not count.",
    ),
    Column(
        "responder", "text", "", "substantial, moderate, none, unknown",
        "From baseline_nrs to end_nrs: substantial when pain fell by 50% or more, moderate by 30% or more, none "
        "otherwise; unknown without both scores or with a baseline of 0.",
    ),
    Column(
        "baseline_peg", "decimal", "PEG points (one decimal)", "0.0-10.0; blank if an item is missing",
        "PEG-3 at the baseline assessment: the mean of average pain, interference with enjoyment of life and with "
        "general activity (each 0-10), to one decimal, rounded half up.",
    ),
    Column(
        "end_peg", "decimal", "PEG points (one decimal)", "0.0-10.0; blank if none after baseline",
        "PEG-3 as for baseline_peg, from the newest review assessment or patient's report (before a session or at "
        "the end of the course) that has all three items.",
    ),
    Column(
        "final_pgic", "integer", "PGIC points", f"{_codes(PGIC.choices)}; blank if not given",
        "Patient Global Impression of Change at the end: the patient's own end-of-course answer, else the one "
        "recorded when the course was closed, else the newest review assessment's.",
    ),
    *(column for months in FOLLOW_UP_BANDS for column in _follow_up_columns(months)),
    Column(
        "adverse_events", "integer", "events", "0 or more",
        "Adverse events recorded at the course's signed sessions.",
    ),
    Column(
        "adverse_event_kinds", "list of codes", "",
        f"{_codes(AdverseEventKind.choices)}; separated by '{LIST_SEPARATOR}'",
        "The kinds of those events, each once, in alphabetical order; blank if none. Their notes are never "
        "exported.",
    ),
    *(
        Column(
            f"adverse_events_{severity}", "integer", "events", "0 or more",
            f"Of adverse_events, those recorded as {label.lower()}.",
        )
        for severity, label in Severity.choices
    ),
)  # fmt: skip
HEADER = [column.name for column in COLUMNS]
DICTIONARY_HEADER = ["column", "type", "units", "allowed_values", "derivation"]


def age_band(born: date, on: date) -> str:
    """The age on `on` of someone born on `born`, as its five-year band ("45-49"), or "90+"."""
    age = max(on.year - born.year - ((on.month, on.day) < (born.month, born.day)), 0)
    if age >= OLDEST_BAND:
        return f"{OLDEST_BAND}+"
    low = age // BAND_YEARS * BAND_YEARS
    return f"{low}-{low + BAND_YEARS - 1}"


def days_after(start: date, day: date | None) -> int | None:
    return None if day is None else (day - start).days


@dataclass
class CourseExtras:
    """What a row needs beyond the course's outcome: read in this module's own grouped queries."""

    born_on: date
    sex: str
    condition: str
    event_kinds: set[str]
    severities: Counter


def _extras(courses) -> dict[int, CourseExtras]:
    extras = {
        pk: CourseExtras(born_on, sex, condition, set(), Counter())
        for pk, born_on, sex, condition in courses.values_list(
            "pk", "patient__date_of_birth", "patient__sex", "condition__name"
        )
    }
    events = AdverseEvent.objects.filter(session__course__in=courses.values("pk"), session__signed_at__isnull=False)
    counted = events.values_list("session__course_id", "kind", "severity").annotate(count=Count("pk")).order_by()
    for course_id, kind, severity, count in counted:
        extras[course_id].event_kinds.add(kind)
        extras[course_id].severities[severity] += count
    return extras


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Decimal):
        return f"{value:.1f}"
    return str(value)


def row_of(row_id: str, outcome: CourseOutcome, extras: CourseExtras, nerve_codes: dict[int, str]) -> list[str]:
    """The course's row, in COLUMNS' order; every value a code, a band or a number (no text typed by anyone)."""
    start = outcome.started_on
    follow_ups: list = []
    for months in FOLLOW_UP_BANDS:
        answered_on = outcome.follow_up_on.get(months)
        follow_ups += [
            outcome.follow_up_nrs.get(months),
            days_after(start, answered_on),
            outcome.further_treatment.get(months),
        ]
    values = [
        row_id,
        age_band(extras.born_on, start),
        extras.sex,
        extras.condition,
        outcome.status,
        outcome.stop_reason,
        days_after(start, outcome.closed_on),
        outcome.signed_sessions,
        LIST_SEPARATOR.join(sorted(nerve_codes[nerve] for nerve in outcome.nerve_ids)),
        outcome.baseline_nrs,
        outcome.end_nrs,
        outcome.responder,
        outcome.baseline_peg,
        outcome.end_peg,
        outcome.final_pgic,
        *follow_ups,
        outcome.adverse_events,
        LIST_SEPARATOR.join(sorted(extras.event_kinds)),
        *(extras.severities[severity] for severity in Severity.values),
    ]
    return [_cell(value) for value in values]


def new_row_id(drawn: set[str]) -> str:
    """A random id not yet used in this export."""
    while (row_id := secrets.token_hex(ROW_ID_BYTES)) in drawn:
        pass
    drawn.add(row_id)
    return row_id


def rows(
    course_ids: Sequence[int], *, on_batch: Callable[[int], object] | None = None, batch_size: int | None = None
) -> Iterator[list[str]]:
    """The rows of these courses, in the order given, a batch at a time (BATCH_SIZE courses unless told);
    `on_batch(done)` after each batch with the number of courses read so far. A course no longer there (deleted
    meanwhile) has no row."""
    batch_size = batch_size or BATCH_SIZE
    nerve_codes = dict(Nerve.objects.values_list("pk", "code"))
    drawn: set[str] = set()
    for start in range(0, len(course_ids), batch_size):
        batch = course_ids[start : start + batch_size]
        courses = TreatmentCourse.objects.filter(pk__in=batch)
        outcomes = {outcome.course_id: outcome for outcome in course_outcomes(courses)}
        extras = _extras(courses)
        for course_id in batch:
            if course_id in outcomes:
                yield row_of(new_row_id(drawn), outcomes[course_id], extras[course_id], nerve_codes)
        if on_batch is not None:
            on_batch(start + len(batch))


def dictionary_csv() -> str:
    lines = io.StringIO()
    writer = csv.writer(lines)
    writer.writerow(DICTIONARY_HEADER)
    for column in COLUMNS:
        writer.writerow([csv_safe(value) for value in (column.name, column.type, column.units,
                                                       column.allowed_values, column.derivation)])  # fmt: skip
    return lines.getvalue()


@dataclass(frozen=True)
class About:
    """What the README says about this export."""

    started_from: date | None
    started_to: date | None
    generated_on: date


def write_package(target: BinaryIO, data_rows: Iterable[list[str]], about: About) -> int:
    """Write the zip (data.csv, data_dictionary.csv, README.md) into `target`, a binary file opened for writing,
    the rows compressed as they come (never all held at once); returns how many rows data.csv has. Every cell is
    neutralised for spreadsheets (audit.exports.csv_safe)."""
    written = 0
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as package:
        with package.open(DATA_FILE, "w") as raw, io.TextIOWrapper(raw, encoding="utf-8", newline="") as text:
            writer = csv.writer(text)
            writer.writerow(HEADER)
            for row in data_rows:
                writer.writerow([csv_safe(cell) for cell in row])
                written += 1
        package.writestr(DICTIONARY_FILE, dictionary_csv())
        context = {"about": about, "rows": written, "columns": COLUMNS, "data_file": DATA_FILE,
                   "dictionary_file": DICTIONARY_FILE, "bands": FOLLOW_UP_BANDS}  # fmt: skip
        package.writestr(README_FILE, render_to_string("outcomes/registry/README.md", context))
    return written
