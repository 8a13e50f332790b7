"""The clinical and scheduling parts of the patient page, trimmed to what the user's role may see."""

from django.db.models import OuterRef, Prefetch, QuerySet

from accounts.models import User
from assessments.models import Assessment, PainArea
from patients.models import Patient
from pit_portal.json_rows import as_instances, json_rows
from pit_portal.prepared import PreparedQuery
from scheduling.queries import appointments_for_patient
from treatments.models import InjectionSession


def _assessments_with_areas(patient_id: int) -> QuerySet[Assessment]:
    """The patient's assessments, latest first, each with its pain areas in the same query (the page draws the
    latest one's)."""
    areas = PainArea.objects.filter(assessment=OuterRef("pk")).order_by(*PainArea._meta.ordering)
    return (
        Assessment.objects.filter(patient_id=patient_id)
        .select_related("condition", "clinician")
        .annotate(pain_area_rows=json_rows(areas, ["id", "region", "intensity", "tender", "note"]))
        .order_by("-assessed_at")
    )


# Its JSON list made it the page's slowest query to compile: compiled once (pit_portal.prepared).
ASSESSMENTS_WITH_AREAS = PreparedQuery(_assessments_with_areas)


def clinical_sections(user: User, patient: Patient) -> dict:
    """Courses with their sessions for anyone who may see courses (the front desk sees dates and
    status only, enforced in the template and by the session views); assessments and the latest
    body map for clinical staff. A fixed number of queries whatever the number of sessions."""
    sections: dict = {
        "courses": [],
        "assessments": [],
        "latest_assessment": None,
        "latest_pain_areas": [],
        "appointments": None,
    }
    if user.has_perm("scheduling.view_appointment"):
        sections["appointments"] = appointments_for_patient(patient)
    if user.has_perm("treatments.view_treatmentcourse"):
        sessions = InjectionSession.objects.select_related("clinician").order_by("number")
        sections["courses"] = list(
            patient.courses.select_related("condition").prefetch_related(Prefetch("sessions", queryset=sessions))
        )
    if user.has_perm("assessments.view_assessment"):
        assessments = ASSESSMENTS_WITH_AREAS.objects(patient.pk)
        sections["assessments"] = assessments
        if assessments:
            sections["latest_assessment"] = assessments[0]
            sections["latest_pain_areas"] = as_instances(PainArea, assessments[0].pain_area_rows)
    return sections
