"""The documents status box on the session and patient pages, and the partial htmx polls to refresh it."""

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest
from django.middleware.csrf import get_token
from django.urls import reverse
from django.utils.safestring import SafeString

from documents.access import documents_visible_to
from documents.models import Document, DocumentStatus
from pit_portal.fragments import IdLinks, render_fragment
from pit_portal.prepared import PreparedQuery

PATIENT_PAGE_LIMIT = 20
POLL_SECONDS = 3


def session_documents(user, session_id: int) -> list:
    """Every version of the session's documents, newest first (staff may still need a superseded one)."""
    documents = documents_visible_to(user).filter(session_id=session_id)
    return list(documents.order_by("-version", "kind"))


def _current_documents(patient_id: int) -> QuerySet[Document]:
    """A patient's current documents, newest session first, with what the box shows of each and its session."""
    return (
        Document.objects.filter(patient_id=patient_id, superseded_at__isnull=True)
        .select_related("session")
        .only("kind", "version", "status", "superseded_at", "last_error", "session", "session__performed_at")
        .order_by("-session__performed_at", "kind")[:PATIENT_PAGE_LIMIT]
    )


# Read on every patient page: compiled once (pit_portal.prepared).
CURRENT_DOCUMENTS = PreparedQuery(_current_documents)


def patient_documents(user, patient_id: int) -> list[Document]:
    """The patient box's documents. It is for staff who may see documents, who see every one of them
    (documents.access.documents_visible_to); anyone else is refused."""
    if not user.has_perm("documents.view_document"):
        raise PermissionDenied
    return CURRENT_DOCUMENTS.objects(patient_id)


def patient_box(request: HttpRequest, patient_id: int) -> SafeString:
    """The patient's current documents, newest session first, in the box (one query)."""
    documents = patient_documents(request.user, patient_id)
    return status_box(request, documents, scope="patient", scope_id=patient_id)


def status_box(request: HttpRequest, documents: list, *, scope: str, scope_id: int) -> SafeString:
    """The documents box (documents/jinja2/documents/_status.html)."""
    context = status_context(request.user, documents, scope=scope, scope_id=scope_id, csrf_token=get_token(request))
    return render_fragment("documents/_status.html", context)


def status_context(user, documents: list, *, scope: str, scope_id: int, csrf_token=None) -> dict:
    """What _status.html needs; it polls only while something is still pending, then stops by itself."""
    name = "documents:session_status" if scope == "session" else "documents:patient_status"
    return {
        "documents": documents,
        "scope": scope,
        "dom_id": f"documents-{scope}-{scope_id}",
        "poll_url": reverse(name, kwargs={"pk": scope_id}),
        "polling": any(document.status == DocumentStatus.PENDING for document in documents),
        "poll_seconds": POLL_SECONDS,
        "can_download": user.has_perm("documents.view_document"),
        "can_retry": user.has_perm("documents.change_document"),
        "csrf_token": csrf_token,
        "links": IdLinks.reversed({"download": "documents:download", "retry": "documents:retry"}),
    }
