"""Registry exports for the tests: seeded courses whose rows are worked out by hand, with everything that must
never reach the export on file (names, numbers, contact details, notes), and the zip read back."""

import csv
import io
import zipfile
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from django.utils import timezone

from accounts.models import Role
from assessments.models import Nerve
from outcomes.models import EnteredVia, MeasureRequest, Moment, PatientReport, RegistryExport
from outcomes.registry import services
from patients.models import Condition, Patient
from tests.factories import AssessmentFactory, CourseFactory, PatientFactory, SessionFactory, UserFactory
from tests.scheduling.factories import at
from treatments.models import AdverseEvent, InjectionSite, TreatmentCourse
from treatments.services import course_close, session_sign

START = date(2025, 3, 10)
CLOSED_DAY = 40  # days after START
NERVES = ("greater-occipital-nerve", "supraorbital-nerve", "lesser-occipital-nerve")
DRAFT_NERVE = "auriculotemporal-nerve"  # only on an unsigned draft: never exported


@dataclass
class Seeded:
    course: TreatmentCourse
    patient: Patient
    # What identifies the patient or is free text about them: none of it may appear anywhere in the zip.
    secrets: list[str] = field(default_factory=list)


def identifiers_of(patient: Patient) -> list[str]:
    values = [
        patient.given_name, patient.family_name, patient.preferred_name, patient.clinic_number, patient.email,
        str(patient.phone), patient.address_line1, patient.town, patient.postcode, patient.emergency_contact_name,
        patient.gp_name, patient.gp_practice, str(patient.pk), patient.date_of_birth.isoformat(),
        patient.date_of_birth.strftime("%d/%m/%Y"),
    ]  # fmt: skip
    return [value for value in values if value]


def low_back_pain() -> Condition:
    return Condition.objects.get(code="low-back-pain")


def _signed_session(course, clinician, day: int, pre_nrs: int, nerves, events=()):
    draft = SessionFactory(
        course=course, clinician=clinician, performed_at=at(START + timedelta(days=day), 10), pre_nrs=pre_nrs,
        post_nrs=2, notes="She mentioned her daughter Imogen Quigley drives her in.",
    )  # fmt: skip
    for nerve in nerves:
        InjectionSite.objects.create(
            session=draft, nerve=nerve, side="left", points=4, volume_per_point_ml=Decimal("0.5")
        )
    for kind, severity in events:
        AdverseEvent.objects.create(session=draft, kind=kind, severity=severity, note="Bruise by her Imogen tattoo")
    return session_sign(session=draft, by=clinician)


def _follow_up_answer(course, *, asked_after: int, answered_after: int, nrs: int, further: bool) -> None:
    """The patient's answer to the follow-up asked `asked_after` days after the course closed, given
    `answered_after` days after it closed."""
    request = MeasureRequest.objects.get(course=course, moment=Moment.AFTER_COURSE, days_after_course=asked_after)
    submitted_at = at(START + timedelta(days=CLOSED_DAY + answered_after), 12)
    PatientReport.objects.create(
        request=request, patient_id=course.patient_id, course=course, nrs_now=nrs, nrs_average=nrs,
        further_treatment=further, entered_via=EnteredVia.LINK, submitted_at=submitted_at,
    )  # fmt: skip
    MeasureRequest.objects.filter(pk=request.pk).update(answered_at=submitted_at)


def seed_discontinued_course(clinician) -> Seeded:
    """A course worked out by hand in test_registry_dataset: baseline, three signed sessions (and a draft that must
    not count), a review, discontinued after an adverse event, and both follow-ups answered."""
    patient = PatientFactory(
        pk=876543, clinic_number="RX-55501", given_name="Philippa", family_name="Quigley-Ashdown",
        preferred_name="Pip", date_of_birth=date(1975, 3, 11), sex="male", phone="+447700900123",
        email="philippa.q@example.net", address_line1="17 Larkspur Mews", town="Wolverhampton", postcode="WV3 9ZZ",
        emergency_contact_name="Rowan Quigley", gp_name="Dr Ottoline Parrish", gp_practice="Sedgemoor Surgery",
    )  # fmt: skip
    baseline = AssessmentFactory(
        patient=patient, clinician=clinician, assessed_at=at(START - timedelta(days=3), 9), condition=low_back_pain(),
        presenting_complaint="Shooting pain since the crash on the ring road", nrs_current=8, nrs_average=7,
        peg_enjoyment=6, peg_activity=6,
    )  # fmt: skip
    course = CourseFactory(
        pk=987654, patient=patient, condition=low_back_pain(), started_on=START, baseline_assessment=baseline,
        created_by=clinician,
    )  # fmt: skip
    baseline.course = course
    baseline.save(update_fields=["course"])
    nerve = {code: Nerve.objects.get(code=code) for code in (*NERVES, DRAFT_NERVE)}
    first, second, third = NERVES
    _signed_session(course, clinician, 1, 8, [nerve[first], nerve[second]])
    _signed_session(course, clinician, 15, 6, [nerve[second]], events=[("bruising", "mild")])
    _signed_session(course, clinician, 29, 5, [nerve[third]], events=[("vasovagal", "moderate"), ("bruising", "mild")])
    draft = SessionFactory(course=course, clinician=clinician, performed_at=at(START + timedelta(days=39), 10),
                           pre_nrs=1, notes="Draft never signed")  # fmt: skip
    InjectionSite.objects.create(
        session=draft, nerve=nerve[DRAFT_NERVE], side="left", points=2, volume_per_point_ml=Decimal("0.5")
    )
    AdverseEvent.objects.create(session=draft, kind="infection", severity="severe", note="Draft only")
    AssessmentFactory(
        patient=patient, course=course, clinician=clinician, kind="review", condition=low_back_pain(),
        assessed_at=at(START + timedelta(days=38), 11), nrs_current=4, nrs_worst=5, nrs_average=4, peg_pain=4,
        peg_enjoyment=3, peg_activity=4, pgic=2,
    )  # fmt: skip
    course_close(
        course=course, status="discontinued", stop_reason="adverse_event", final_pgic=3,
        details="Fainted in the car park at Larkspur Mews", closed_on=START + timedelta(days=CLOSED_DAY),
    )  # fmt: skip
    _follow_up_answer(course, asked_after=91, answered_after=92, nrs=3, further=False)
    _follow_up_answer(course, asked_after=182, answered_after=183, nrs=2, further=True)
    secrets = [
        *identifiers_of(patient), str(course.pk), "Imogen", "Larkspur", "car park", "ring road", "Draft never signed",
        START.isoformat(), clinician.username, clinician.last_name,
    ]  # fmt: skip
    return Seeded(course, patient, secrets)


FORMULA_NAME = '=HYPERLINK("https://evil.example/x","Open")'


def seed_formula_patient_course(clinician) -> Seeded:
    """A patient whose name is a spreadsheet formula, aged 95 when their (still active) course started."""
    patient = PatientFactory(
        pk=876544, clinic_number="RX-55502", given_name=FORMULA_NAME, family_name="@Mallory-Formula",
        date_of_birth=date(1930, 1, 1), sex="female", phone="+447700900999", email="mallory@evil.example",
        address_line1="=1+2 Cell Street", town="Formulaton", postcode="FX1 1XF",
    )  # fmt: skip
    course = CourseFactory(
        pk=987655, patient=patient, condition=low_back_pain(), started_on=START, created_by=clinician
    )
    return Seeded(course, patient, [*identifiers_of(patient), "HYPERLINK", "evil.example", str(course.pk)])


def read_package(content: bytes) -> dict[str, str]:
    """Each file in the zip, by name, as text."""
    with zipfile.ZipFile(io.BytesIO(content)) as package:
        return {name: package.read(name).decode("utf-8") for name in package.namelist()}


def csv_dicts(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def ready_registry_export(**period) -> RegistryExport:
    """An export built and stored in this process (private storage, as configured)."""
    manager = UserFactory(username="registry-manager", role=Role.MANAGER)
    export = RegistryExport.objects.create(requested_by=manager, enqueued_at=timezone.now(), **period)
    assert services.export_build(export.pk)
    export.refresh_from_db()
    return export
