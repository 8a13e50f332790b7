"""Rows of what a patient reported, written straight into the tables: asking and answering have their own tests
(outcomes, portal); the course page only reads them."""

from datetime import datetime, timedelta
from decimal import Decimal

from django.utils import timezone

from outcomes.models import EnteredVia, MeasureRequest, Moment, PatientReport
from portal.models import CheckIn
from scheduling.models import Appointment
from tests.portal.helpers import make_appointment
from treatments.models import TreatmentCourse


def local(year: int, month: int, day: int, hour: int = 10, minute: int = 0) -> datetime:
    """A moment in the clinic's time zone."""
    return timezone.make_aware(datetime(year, month, day, hour, minute))


def measure_request(
    course: TreatmentCourse,
    moment: str = Moment.COURSE_END,
    *,
    days_after_course: int | None = None,
    appointment: Appointment | None = None,
    due_at: datetime | None = None,
    **fields,
) -> MeasureRequest:
    due_at = due_at or timezone.now() - timedelta(days=1)
    return MeasureRequest.objects.create(
        patient_id=course.patient_id,
        course=course,
        appointment=appointment,
        moment=moment,
        days_after_course=days_after_course,
        ask_nrs=True,
        ask_peg=True,
        ask_pgic=True,
        ask_further_treatment=True,
        due_at=due_at,
        expires_at=fields.pop("expires_at", due_at + timedelta(days=21)),
        **fields,
    )


def patient_report(
    request: MeasureRequest, *, submitted_at: datetime | None = None, entered_by=None, **answers
) -> PatientReport:
    """The patient's answers to `request`, closing it as outcomes.services.report_record does: through the
    portal when `entered_by` (the patient's user) is given, else through the emailed link."""
    submitted_at = submitted_at or timezone.now()
    report = PatientReport.objects.create(
        request=request,
        patient_id=request.patient_id,
        course_id=request.course_id,
        entered_via=EnteredVia.PORTAL if entered_by else EnteredVia.LINK,
        entered_by=entered_by,
        submitted_at=submitted_at,
        **answers,
    )
    MeasureRequest.objects.filter(pk=request.pk).update(answered_at=submitted_at)
    return report


def check_in(course: TreatmentCourse, *, submitted_at: datetime, nrs_now: int, starts_at: datetime | None = None):
    """A pre-visit check-in for an appointment of the course (starting an hour after it was submitted)."""
    appointment = make_appointment(course.patient, starts_at or submitted_at + timedelta(hours=1))
    Appointment.objects.filter(pk=appointment.pk).update(course=course)
    scores = {"nrs_now": nrs_now, "peg_pain": nrs_now, "peg_enjoyment": 5, "peg_activity": 5}
    made = CheckIn.objects.create(
        appointment=appointment, patient=course.patient, analgesic_doses_per_week=Decimal("2"), **scores
    )
    CheckIn.objects.filter(pk=made.pk).update(submitted_at=submitted_at)  # auto_now: set the time afterwards
    made.refresh_from_db()
    return made
