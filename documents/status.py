"""The documents status box on the session and patient pages, and the partial htmx polls to refresh it."""

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.safestring import SafeString

from documents.access import documents_visible_to
from documents.models import Document, DocumentStatus

PATIENT_PAGE_LIMIT = 20
POLL_SECONDS = 3
POLL_LINKS = {"session": "documents:session_status", "patient": "documents:patient_status"}


def session_documents(user, session_id: int) -> list[Document]:
    """Every version of the session's documents, newest first (staff may still need a superseded one)."""
    documents = documents_visible_to(user).select_related(None).filter(session_id=session_id)
    return list(documents.order_by("-version", "kind"))


def patient_box(request: HttpRequest, patient_id: int) -> SafeString:
    """The patient's current documents, newest session first, each with its session, in the box (one query). It is
    for staff who may see documents, who see every one of them (documents.access.documents_visible_to); anyone
    else is refused."""
    if not request.user.has_perm("documents.view_document"):
        raise PermissionDenied
    documents = Document.objects.filter(patient_id=patient_id, superseded_at__isnull=True).select_related("session")
    documents = documents.order_by("-session__performed_at", "kind")[:PATIENT_PAGE_LIMIT]
    return status_box(request, list(documents), scope="patient", scope_id=patient_id)


def status_box(request: HttpRequest, documents: list[Document], *, scope: str, scope_id: int) -> SafeString:
    """The documents box (documents/_status.html); it polls only while something is still pending, then stops by
    itself."""
    context = {
        "documents": documents,
        "scope": scope,
        "dom_id": f"documents-{scope}-{scope_id}",
        "poll_url": reverse(POLL_LINKS[scope], args=[scope_id]),
        "polling": any(document.status == DocumentStatus.PENDING for document in documents),
        "poll_seconds": POLL_SECONDS,
    }
    return render_to_string("documents/_status.html", context, request=request)
