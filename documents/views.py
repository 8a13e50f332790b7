from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_GET, require_POST

from accounts.decorators import AuthenticatedHttpRequest, permission_required
from documents import services, status
from documents.access import get_document_for
from documents.downloads import document_response
from patients.access import get_patient_for
from treatments.access import get_session_for


@require_GET
@permission_required("documents.view_document")
def download(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Staff download of any version; patients use the portal, which calls the same document_response."""
    return document_response(get_document_for(request.user, pk), request, via="staff")


def _session_status(request: AuthenticatedHttpRequest, session_id: int) -> HttpResponse:
    session = get_session_for(request.user, session_id)
    documents = status.session_documents(request.user, session.pk)
    return HttpResponse(status.status_box(request, documents, scope="session", scope_id=session.pk))


def _patient_status(request: AuthenticatedHttpRequest, patient_id: int) -> HttpResponse:
    patient = get_patient_for(request.user, patient_id)
    return HttpResponse(status.patient_box(request, patient.pk))


@require_GET
@permission_required("documents.view_document")
def session_status(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    return _session_status(request, pk)


@require_GET
@permission_required("documents.view_document")
def patient_status(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    return _patient_status(request, pk)


@require_POST
@permission_required("documents.change_document")
def retry(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    document = get_document_for(request.user, pk)
    services.document_retry(document=document, by=request.user)
    scope = request.POST.get("scope", "session")
    if scope not in ("session", "patient"):
        raise Http404
    if request.headers.get("HX-Request"):
        # htmx swaps the box in place; it starts polling again because the document is pending.
        if scope == "patient":
            return _patient_status(request, document.patient_id)
        return _session_status(request, document.session_id)
    if scope == "patient":
        return redirect("patients:detail", pk=document.patient_id)
    return redirect("treatments:session", pk=document.session_id)
