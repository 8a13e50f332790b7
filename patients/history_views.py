"""The History tab of the patient page: who changed what in the patient's record, and when."""

from django.http import HttpResponse
from django.shortcuts import render

from accounts.decorators import AuthenticatedHttpRequest, permission_required
from audit.models import Action
from audit.services import record
from patients.access import get_patient_for
from patients.timeline import history_page


@permission_required("audit.view_history")
def patient_history(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    patient = get_patient_for(request.user, pk)
    page = history_page(patient, request.user, request.GET.get("page"))
    record(Action.HISTORY_VIEWED, request=request, patient=patient, detail={"page": page.number})
    return render(request, "patients/patient_history.html", {"patient": patient, "page": page})
