"""A patient with something of every kind the FHIR export carries, written through the product's services where
they exist (signing, closing a course, reporting a reaction) and straight into the tables otherwise."""

import hashlib
from decimal import Decimal

from django.utils import timezone

from assessments.models import FunctionalActivity, Nerve
from documents.models import Document, DocumentStatus
from outcomes.models import EnteredVia, PatientReport
from patients.models import Condition, Medication, Patient
from portal.models import CheckIn
from safety.services import delayed_reaction_report
from tests.factories import AssessmentFactory, CourseFactory, SessionFactory, consent_for, signed_session
from tests.outcomes.helpers import end_request
from tests.portal.helpers import in_days, make_appointment
from treatments import services as treatment_services
from treatments.models import AdverseEvent, InjectionSite


def full_record(patient: Patient) -> dict:
    """Every kind of row for `patient`; returns the interesting ones by name."""
    intake = patient.intake
    intake.allergy_amide_local_anaesthetic = True
    intake.other_allergies = "Penicillin"
    intake.other_condition = "Old ankle fracture"
    intake.save()
    intake.conditions.add(Condition.objects.get(code="diabetic-neuropathy"))
    Medication.objects.create(intake=intake, drug="Paracetamol", dose="1 g", doses_per_week=Decimal("14"))
    consent = consent_for(patient)
    assessment = AssessmentFactory(patient=patient, dn4_burning=True, dn4_tingling=True)
    FunctionalActivity.objects.create(assessment=assessment, activity="Walking the dog", score=4)
    course = CourseFactory(patient=patient)
    draft = SessionFactory(course=course, sites=1)
    AdverseEvent.objects.create(session=draft, kind="bruising", severity="mild", note="Small bruise")
    session = treatment_services.session_sign(session=draft, by=draft.clinician)
    later = signed_session(course=course)
    left_draft = SessionFactory(course=course, sites=1, lot_number="DRAFT-LOT")
    reaction = delayed_reaction_report(
        patient=patient,
        description="Sore for two days",
        severity="mild",
        via="staff",
        by=session.clinician,
        session=session,
    )
    appointment = make_appointment(patient, in_days(1), clinician=session.clinician)
    check_in = CheckIn.objects.create(
        appointment=appointment, patient=patient, nrs_now=5, peg_pain=6, peg_enjoyment=4, peg_activity=5,
        analgesic_doses_per_week=Decimal("7"),
    )  # fmt: skip
    closed = treatment_services.course_close(course=course, status="completed", final_pgic=2)
    report = PatientReport.objects.create(
        request=end_request(closed), patient=patient, course=closed, nrs_now=3, nrs_average=4, peg_enjoyment=3,
        peg_activity=2, pgic=2, further_treatment=False, entered_via=EnteredVia.LINK,
    )  # fmt: skip
    document = ready(Document.objects.filter(session=session).first())
    return {
        "consent": consent, "assessment": assessment, "course": course, "session": session, "later": later,
        "draft": left_draft, "reaction": reaction, "appointment": appointment, "check_in": check_in,
        "report": report, "document": document,
    }  # fmt: skip


def ready(document: Document) -> Document:
    """Mark a pending document ready as the worker would, with a file name, size and SHA-256 (no file is needed:
    the export reads the row)."""
    content = b"%PDF-1.4 not a real PDF"
    Document.objects.filter(pk=document.pk).update(
        status=DocumentStatus.READY, file_name=f"documents/{document.pk}.pdf", size_bytes=len(content),
        sha256=hashlib.sha256(content).hexdigest(), ready_at=timezone.now(),
    )  # fmt: skip
    document.refresh_from_db()
    return document


def add_site(session_pk: int, nerve: Nerve, side: str) -> InjectionSite:
    return InjectionSite.objects.create(
        session_id=session_pk, nerve=nerve, side=side, points=3, volume_per_point_ml=Decimal("0.5")
    )
