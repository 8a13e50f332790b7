"""A patient seen long ago, with something written in every free-text field anonymisation replaces."""

from datetime import date, timedelta

from django.utils import timezone

from patients.models import DataRequest, DataRequestKind, Patient
from scheduling.models import AppointmentStatus
from tests.factories import AssessmentFactory, CourseFactory, SessionFactory
from tests.scheduling.factories import AppointmentFactory

SECRET = "Lives with Tom at the lighthouse"


def years_ago(years: int, days: int = 0):
    now = timezone.now()
    return now.replace(year=now.year - years) - timedelta(days=days)


def seen_long_ago(patient: Patient, years: int = 10) -> Patient:
    """The patient with an assessment, a signed session (with an adverse event's note and an addendum) and an
    attended appointment `years` ago, each with free text."""
    from portal.models import CheckIn
    from treatments.models import AdverseEvent
    from treatments.services import addendum_add, session_sign

    when = years_ago(years)
    Patient.objects.filter(pk=patient.pk).update(
        date_of_birth=date(1961, 7, 14), address_line1="1 Harbour Road", town="Stromness",
        emergency_contact_name="Tom Day",
    )  # fmt: skip
    patient.refresh_from_db()
    patient.intake.notes = SECRET
    patient.intake.save()
    AssessmentFactory(patient=patient, assessed_at=when, presenting_complaint=SECRET)
    course = CourseFactory(patient=patient, started_on=timezone.localdate(when))
    draft = SessionFactory(course=course, performed_at=when, notes=SECRET, sites=1)
    AdverseEvent.objects.create(session=draft, kind="bruising", severity="mild", note=SECRET)
    session = session_sign(session=draft, by=draft.clinician)
    addendum_add(session=session, text=SECRET, by=session.clinician)
    visit = AppointmentFactory(patient=patient, starts_at=when, status=AppointmentStatus.COMPLETED, notes=SECRET)
    CheckIn.objects.create(appointment=visit, patient=patient, nrs_now=6, peg_pain=6, peg_enjoyment=5,
                           peg_activity=5, analgesic_doses_per_week=0, new_problems=SECRET)  # fmt: skip
    return patient


def erasure_request(patient: Patient, by) -> DataRequest:
    from patients.data_requests import data_request_record

    return data_request_record(patient=patient, kind=DataRequestKind.ERASURE, received_on=timezone.localdate(),
                               received_via="letter", notes=f"Letter signed {patient.full_name}", by=by)  # fmt: skip
