"""Courses whose outcome the test knows, built with the factories and straight ORM rows: a baseline assessment,
sessions (signed through the product's service, or left as drafts), reviews, closing, and what the patient was
asked and answered between visits."""

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from html.parser import HTMLParser

from django.utils import timezone

from accounts.models import Role
from assessments.models import Nerve
from outcomes.models import EnteredVia, MeasureRequest, Moment, PatientReport
from patients.models import Condition
from tests.factories import AssessmentFactory, CourseFactory, PatientFactory, SessionFactory, UserFactory, closed
from tests.scheduling.factories import AppointmentFactory
from treatments.models import AdverseEvent, CourseStatus, InjectionSession, InjectionSite, TreatmentCourse
from treatments.services import session_sign

ANSWER_WINDOW = timedelta(days=21)


def ago(days: float) -> datetime:
    return timezone.now() - timedelta(days=days)


def days_ago(days: int) -> date:
    return timezone.localdate() - timedelta(days=days)


def nerve(number: int) -> Nerve:
    """The `number`-th nerve of the reference list (from 0), by id."""
    return Nerve.objects.order_by("pk")[number]


def course(*, condition: str = "low-back-pain", baseline: int | None = 8, peg: tuple[int, int, int] = (7, 6, 8),
           clinician=None, started: int = 500) -> TreatmentCourse:  # fmt: skip
    """An active course started `started` days ago, with a baseline assessment (pain now `baseline`; PEG's average
    pain, enjoyment and activity `peg`) unless `baseline` is None."""
    clinician = clinician or UserFactory(role=Role.CLINICIAN)
    patient = PatientFactory()
    created = CourseFactory(patient=patient, condition=Condition.objects.get(code=condition),
                            started_on=days_ago(started), created_by=clinician)  # fmt: skip
    if baseline is not None:
        average, enjoyment, activity = peg
        assessment = AssessmentFactory(
            patient=patient, course=created, clinician=clinician, assessed_at=ago(started + 7), nrs_current=baseline,
            nrs_average=average, peg_pain=average, peg_enjoyment=enjoyment, peg_activity=activity,
        )  # fmt: skip
        TreatmentCourse.objects.filter(pk=created.pk).update(baseline_assessment=assessment)
    return created


def close(treated: TreatmentCourse, status: str = CourseStatus.COMPLETED, final_pgic: int | None = None) -> None:
    TreatmentCourse.objects.filter(pk=treated.pk).update(**closed(status), final_pgic=final_pgic)


def session(treated: TreatmentCourse, number: int, pre_nrs: int, *, days: float, nerves: Sequence[Nerve] = (),
            signed: bool = True, clinician=None, adverse_event: bool = False) -> InjectionSession:  # fmt: skip
    """Session `number`, performed `days` ago, injecting `nerves` (the first nerve when none is given)."""
    made = SessionFactory(course=treated, number=number, pre_nrs=pre_nrs, post_nrs=None, performed_at=ago(days),
                          clinician=clinician or treated.created_by)  # fmt: skip
    for injected in nerves or [nerve(0)]:
        InjectionSite.objects.create(session=made, nerve=injected, side="left", points=4,
                                     volume_per_point_ml=Decimal("0.5"))  # fmt: skip
    if adverse_event:
        AdverseEvent.objects.create(session=made, kind="bruising", severity="mild", note="")
    return session_sign(session=made, by=made.clinician) if signed else made


def review(treated: TreatmentCourse, nrs: int, *, days: float, pgic: int | None = None,
           peg: tuple[int, int, int] = (5, 5, 5)):  # fmt: skip
    average, enjoyment, activity = peg
    return AssessmentFactory(
        patient=treated.patient, course=treated, kind="review", assessed_at=ago(days), clinician=treated.created_by,
        nrs_current=nrs, nrs_average=average, peg_pain=average, peg_enjoyment=enjoyment, peg_activity=activity,
        pgic=pgic,
    )  # fmt: skip


def ask(treated: TreatmentCourse, moment: str, *, days: float, after_course: int | None = None, sent: bool = True,
        answered: bool = True, cancelled: bool = False, nrs: int | None = None,
        peg: tuple[int, int, int] | None = None, pgic: int | None = None,
        further: bool | None = None) -> MeasureRequest:  # fmt: skip
    """A request due `days` ago (and sent then, unless not `sent`); answered at once through the emailed link with
    these scores unless not `answered`, or cancelled a day later."""
    due_at = ago(days)
    appointment = None
    if moment == Moment.BEFORE_SESSION:
        # With a clinician of its own: the clinic's diaries need not be checked for clashes.
        appointment = AppointmentFactory(patient=treated.patient, course=treated, starts_at=due_at + timedelta(days=2))
    request = MeasureRequest.objects.create(
        patient=treated.patient, course=treated, appointment=appointment, moment=moment,
        days_after_course=after_course, ask_nrs=True, ask_peg=True, ask_pgic=moment != Moment.BEFORE_SESSION,
        ask_further_treatment=moment == Moment.AFTER_COURSE, due_at=due_at, expires_at=due_at + ANSWER_WINDOW,
        sent_at=due_at if sent else None,
        cancelled_at=due_at + timedelta(days=1) if cancelled else None,
        cancel_reason="This form is no longer needed." if cancelled else "",
    )  # fmt: skip
    if answered and not cancelled:
        submitted_at = due_at + timedelta(hours=1)
        average, enjoyment, activity = peg or (None, None, None)
        PatientReport.objects.create(
            request=request, patient=treated.patient, course=treated, nrs_now=nrs, nrs_average=average,
            peg_enjoyment=enjoyment, peg_activity=activity, pgic=pgic, further_treatment=further,
            entered_via=EnteredVia.LINK, entered_by=None, submitted_at=submitted_at,
        )  # fmt: skip
        MeasureRequest.objects.filter(pk=request.pk).update(answered_at=submitted_at)
    return request


class PageTables(HTMLParser):
    """The report's tables as a reader sees them: {table title: [[group, cell, ...], ...]}, from the
    `data-table` attribute and the text of each body row's header and cells."""

    def __init__(self, html: str):
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._table: str | None = None
        self._in_body = False
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "table" and "data-table" in attributes:
            self._table = attributes["data-table"]
            self.tables[self._table] = []
        elif tag == "tbody" and self._table:
            self._in_body = True
        elif tag == "tr" and self._in_body:
            self._row = []
        elif tag in ("th", "td") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("th", "td") and self._cell is not None and self._row is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None and self._table:
            self.tables[self._table].append(self._row)
            self._row = None
        elif tag == "tbody":
            self._in_body = False
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)
