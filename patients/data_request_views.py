"""Managers' pages for requests about a patient's data: the patient's requests, recording one, its outcome, and
the clinic's open requests and restrictions (the way to a restricted patient, whom search leaves out)."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render

from accounts.decorators import AuthenticatedHttpRequest, permission_required
from audit.models import Action
from audit.services import record_page_view
from patients.access import get_patient_for
from patients.data_requests import Decision, data_request_decide, data_request_record
from patients.forms import DataRequestDecideForm, DataRequestForm
from patients.models import DataRequest, DataRequestStatus, Patient
from patients.retention import retention_of
from pit_portal.ids import parse_id

PERMISSION = "patients.manage_data_requests"
REQUESTS_PER_PAGE = 50


def _requests(patient: Patient):
    return patient.data_requests.select_related("recorded_by", "decided_by")


@permission_required(PERMISSION)
def data_request_list(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """The patient's requests, newest first, with how long their record must be kept."""
    patient = get_patient_for(request.user, pk)
    record_page_view(request, Action.PATIENT_VIEWED, patient=patient)
    context = {"patient": patient, "requests": list(_requests(patient)), "retention": retention_of(patient)}
    return render(request, "patients/data_requests.html", context)


@permission_required(PERMISSION)
def data_request_new(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    patient = get_patient_for(request.user, pk)
    form = DataRequestForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            data_request = data_request_record(patient=patient, by=request.user, request=request, **form.cleaned_data)
        except ValidationError as refusal:
            form.add_error(None, refusal.messages)
        else:
            messages.success(request, f"{data_request.get_kind_display()} recorded.")
            return redirect("patients:data_requests", pk=patient.pk)
    status = 400 if form.is_bound else 200
    return render(request, "patients/data_request_form.html", {"form": form, "patient": patient}, status=status)


@permission_required(PERMISSION)
def data_request_decide_view(request: AuthenticatedHttpRequest, pk: int, request_pk: int) -> HttpResponse:
    """Record the outcome of an open request. An erasure refused because the record must still be kept answers
    409 with the reason and date; the request stays recorded as refused."""
    patient = get_patient_for(request.user, pk)
    data_request = DataRequest.objects.filter(patient=patient, pk=request_pk).first()
    if data_request is None:
        raise Http404
    form = DataRequestDecideForm(request.POST or None, data_request=data_request)
    context = {"form": form, "patient": patient, "data_request": data_request, "retention": retention_of(patient)}
    if data_request.status != DataRequestStatus.OPEN:
        context["form"] = None
        return render(request, "patients/data_request_decide.html", context, status=409 if form.is_bound else 200)
    if request.method == "POST" and form.is_valid():
        try:
            decided = data_request_decide(data_request=data_request, by=request.user, request=request,
                                          **form.cleaned_data)  # fmt: skip
        except ValidationError as refusal:
            form.add_error(None, refusal.messages)
        else:
            if decided.status == DataRequestStatus.REFUSED and form.cleaned_data["decision"] == Decision.CARRY_OUT:
                context.update(data_request=decided, form=None, refused=True)
                return render(request, "patients/data_request_decide.html", context, status=409)
            messages.success(request, f"{decided.get_kind_display()}: {decided.get_status_display().lower()}.")
            return redirect("patients:data_requests", pk=patient.pk)
    return render(request, "patients/data_request_decide.html", context, status=400 if form.is_bound else 200)


@permission_required(PERMISSION)
def data_requests_open(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The clinic's open requests and the patients whose processing is restricted."""
    in_view = Q(status=DataRequestStatus.OPEN) | Q(patient__restricted_at__isnull=False, kind="restriction")
    rows = (
        DataRequest.objects.filter(in_view)
        .select_related("patient")
        .only(
            "kind",
            "status",
            "received_on",
            "patient__given_name",
            "patient__family_name",
            "patient__clinic_number",
            "patient__restricted_at",
        )
        .order_by("received_on", "pk")
    )
    page = Paginator(rows, REQUESTS_PER_PAGE).get_page(parse_id(request.GET.get("page", "")) or 1)
    return render(request, "patients/data_requests_open.html", {"page": page})
