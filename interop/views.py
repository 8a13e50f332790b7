"""The read-only FHIR endpoint: one patient's record, for the clinical staff who may read it on the pages."""

from django.http import HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from accounts.decorators import AuthenticatedHttpRequest, permission_required
from audit.models import Action
from audit.services import record
from interop.bundle import bundle_bytes, patient_bundle
from patients.access import get_patient_for

FHIR_JSON = "application/fhir+json"


@require_GET
@never_cache
# The bundle holds session notes, assessments and scores: the permissions of the clinical pages, which the front
# desk and managers do not have (accounts.roles), on top of the patient page's.
@permission_required("patients.view_patient", "assessments.view_assessment", "treatments.view_injectionsession")
def patient_everything(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """`GET fhir/Patient/<id>/$everything`: the patient's record as a FHIR R4 searchset Bundle. The record leaves
    the clinic's pages, so it is audited as an export (the patient's accounting of disclosures lists it)."""
    patient = get_patient_for(request.user, pk)
    bundle = patient_bundle(patient)
    record(
        Action.EXPORT,
        request=request,
        patient=patient,
        detail={"export": "fhir_everything", "via": "fhir", "resources": bundle.total},
    )
    return HttpResponse(bundle_bytes(bundle), content_type=f"{FHIR_JSON}; charset=utf-8")
