"""The managers' audit pages: the report with its CSV export, the chain check, and a patient's disclosures."""

import re

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_http_methods

from accounts.decorators import AuthenticatedHttpRequest, permission_required
from audit import disclosures as accounting
from audit import report
from audit.exports import csv_download
from audit.filters import AuditEventFilter
from audit.heads import UnreadableHeads, recorded_heads
from audit.models import Action
from audit.services import record, verify_chain
from patients.access import get_patient_for

REPORT_TEMPLATE = "audit/event_list.html"


def _filtered(request: HttpRequest) -> AuditEventFilter:
    return AuditEventFilter(request.GET or None, queryset=report.report_events())


def _report_page(request: HttpRequest, events: AuditEventFilter) -> HttpResponse:
    """The report; a filter that does not make sense shows its message next to the field, with 400."""
    valid = not events.is_bound or events.is_valid()
    page = Paginator(events.qs, report.EVENTS_PER_PAGE).get_page(request.GET.get("page")) if valid else None
    context = {
        "filter": events,
        "page": page,
        "headers": events.sort_headers() if valid else [],
        "can_export": request.user.has_perm("audit.export_auditevent"),
    }
    return render(request, REPORT_TEMPLATE, context, status=200 if valid else 400)


@require_GET
@permission_required("audit.view_auditevent")
def event_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    return _report_page(request, _filtered(request))


def _single_patient(chosen: dict) -> int | None:
    ids = chosen.get("patient") or []
    return ids[0] if len(ids) == 1 else None


@require_GET
@permission_required("audit.view_auditevent", "audit.export_auditevent")
def event_export(request: AuthenticatedHttpRequest) -> HttpResponse | StreamingHttpResponse:
    events = _filtered(request)
    if events.is_bound and not events.is_valid():
        return _report_page(request, events)
    chosen = events.chosen() if events.is_bound else {}
    detail = {"export": "audit_report", "format": "csv", "filters": chosen}
    exported = record(Action.EXPORT, request=request, patient=_single_patient(chosen), detail=detail)
    # The trail as it stood before this export: its own EXPORT event is the next row.
    rows = report.csv_rows(events.qs.filter(pk__lt=exported.pk))
    return csv_download("audit-trail", report.CSV_HEADER, rows)


@require_http_methods(["GET", "POST"])
@permission_required("audit.view_auditevent")
def verify(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Checking the chain reads every row, so it runs when a manager asks (POST), not on every page view. It is
    checked against the heads recorded outside the database: AUDIT_HEAD_FILE and every backup's manifest."""
    check = unreadable = None
    if request.method == "POST":
        try:
            check = verify_chain(recorded_heads())
        except UnreadableHeads as error:
            unreadable = str(error)
    return render(request, "audit/verify.html", {"check": check, "unreadable": unreadable})


@require_GET
@permission_required("audit.view_auditevent")
def disclosures(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    patient = get_patient_for(request.user, pk)
    page = Paginator(accounting.disclosure_events(patient), accounting.DISCLOSURES_PER_PAGE).get_page(
        request.GET.get("page")
    )
    documents = accounting.documents_of(patient) if page.object_list else {}
    context = {
        "patient": patient,
        "page": page,
        "rows": [accounting.describe(event, patient, documents) for event in page.object_list],
        "can_export": request.user.has_perm("audit.export_auditevent"),
    }
    return render(request, "audit/disclosures.html", context)


@require_GET
@permission_required("audit.view_auditevent", "audit.export_auditevent")
def disclosures_export(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse | StreamingHttpResponse:
    patient = get_patient_for(request.user, pk)
    exported = record(
        Action.EXPORT, request=request, patient=patient, detail={"export": "disclosures", "format": "csv"}
    )
    events = accounting.disclosure_events(patient).filter(pk__lt=exported.pk)
    name = "disclosures-" + re.sub(r"[^A-Za-z0-9-]", "", patient.clinic_number)
    return csv_download(name, accounting.CSV_HEADER, accounting.csv_rows(events, patient))
