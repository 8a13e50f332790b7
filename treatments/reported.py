"""What the patient reported about a course, as the course page shows it beside the clinic's own scores.

Two sources: the pre-visit check-in (portal.CheckIn, tied to the course by its appointment) and the answers to
the clinic's questions between visits (outcomes.PatientReport, one per MeasureRequest). Both are read-only here:
the page shows them as the patient gave them. Pure functions over rows already read (no queries)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from outcomes.models import EnteredVia, MeasureRequest, PatientReport
from portal.models import CheckIn

CHECK_IN_VIA = "Patient portal (pre-visit check-in)"


@dataclass(frozen=True)
class ReportedPain:
    """Pain now (NRS 0-10) as the patient reported it, and when: a point on the pain chart, a candidate for the
    course's latest score, and evidence of how long a session's relief lasted."""

    at: datetime
    nrs_now: int


@dataclass(frozen=True)
class ReportedAnswers:
    """One row of "Reported by the patient": a report or a check-in, in the same columns."""

    at: datetime
    moment: str
    appointment_at: datetime | None
    nrs_now: int | None
    nrs_average: int | None
    peg_score: Decimal | None
    pgic: str
    further_treatment: bool | None
    entered_via: str


def report_answers(report: PatientReport) -> ReportedAnswers:
    """Reads the report's request and its appointment (select them with it)."""
    request = report.request
    return ReportedAnswers(
        at=report.submitted_at,
        moment=request.label,
        appointment_at=request.appointment.starts_at if request.appointment else None,
        nrs_now=report.nrs_now,
        nrs_average=report.nrs_average,
        peg_score=report.peg_score,
        pgic=report.get_pgic_display() if report.pgic is not None else "",
        further_treatment=report.further_treatment,
        entered_via=EnteredVia(report.entered_via).label,
    )


def check_in_answers(check_in: CheckIn) -> ReportedAnswers:
    """Reads the check-in's appointment (select it with it). The check-in's PEG pain item is the average pain."""
    return ReportedAnswers(
        at=check_in.submitted_at,
        moment="Check-in before the session",
        appointment_at=check_in.appointment.starts_at,
        nrs_now=check_in.nrs_now,
        nrs_average=check_in.peg_pain,
        peg_score=check_in.peg_score,
        pgic="",
        further_treatment=None,
        entered_via=CHECK_IN_VIA,
    )


def reported_answers(reports: Iterable[PatientReport], check_ins: Iterable[CheckIn]) -> list[ReportedAnswers]:
    """Every report and check-in of the course, oldest first."""
    rows = [report_answers(report) for report in reports] + [check_in_answers(check_in) for check_in in check_ins]
    return sorted(rows, key=lambda row: row.at)


def reported_pain(answers: Sequence[ReportedAnswers]) -> list[ReportedPain]:
    """Pain now from each row that has it, oldest first (a report may not have asked for it)."""
    in_order = sorted(answers, key=lambda row: row.at)
    return [ReportedPain(row.at, row.nrs_now) for row in in_order if row.nrs_now is not None]


def answered_reports(requests: Iterable[MeasureRequest]) -> list[PatientReport]:
    """The reports of requests read with select_related("report"): an unanswered request has none (Django raises
    PatientReport.DoesNotExist, an AttributeError, for a reverse one-to-one read as missing)."""
    return [report for request in requests if (report := getattr(request, "report", None)) is not None]


# --- What was asked ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RequestState:
    """Where one request stands, for staff: `key` for styling and tests, `name` in a word or two, then the moment
    it names (`on`, after `on_words`: "due 12/03/2026") and any reason given (why cancelled or not sent)."""

    key: str
    name: str
    on: datetime | None = None
    on_words: str = ""
    detail: str = ""


def request_state(request: MeasureRequest, now: datetime) -> RequestState:
    """Answered and cancelled are final; a request the worker could not send says why (no email address); one
    whose link expired unanswered says so; otherwise it was reminded, sent, or is not due yet (or is due, and the
    worker's next run sends it)."""
    if request.answered_at is not None:
        return RequestState("answered", "Answered", request.answered_at, "on")
    if request.cancelled_at is not None:
        return RequestState("cancelled", "Cancelled", request.cancelled_at, "on", request.cancel_reason)
    if request.sent_at is None and request.not_sent_reason:
        return RequestState("not_sent", "Not sent", detail=request.not_sent_reason)
    if request.expires_at <= now:
        return RequestState("expired", "Not answered", request.expires_at, "the link expired on")
    if request.reminded_at is not None:
        return RequestState("reminded", "Reminded", request.reminded_at, "on")
    if request.sent_at is not None:
        return RequestState("sent", "Sent", request.sent_at, "on")
    if request.due_at > now:
        return RequestState("waiting", "Not due yet", request.due_at, "due")
    return RequestState("due", "Due", on_words="being sent")


@dataclass(frozen=True)
class RequestLine:
    request: MeasureRequest
    state: RequestState


def request_lines(requests: Iterable[MeasureRequest], now: datetime) -> list[RequestLine]:
    return [RequestLine(request, request_state(request, now)) for request in requests]
