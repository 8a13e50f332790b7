"""The documents status box on the session and patient pages, and the partial htmx polls to refresh it."""

from django.http import HttpRequest
from django.middleware.csrf import get_token
from django.urls import reverse
from django.utils.safestring import SafeString

from documents.access import documents_visible_to
from documents.models import DocumentStatus
from pit_portal.fragments import IdLinks, render_fragment

PATIENT_PAGE_LIMIT = 20
POLL_SECONDS = 3


def session_documents(user, session_id: int) -> list:
    """Every version of the session's documents, newest first (staff may still need a superseded one)."""
    documents = documents_visible_to(user).filter(session_id=session_id)
    return list(documents.order_by("-version", "kind"))


def patient_documents(user, patient_id: int) -> list:
    documents = documents_visible_to(user).filter(patient_id=patient_id, superseded_at__isnull=True)
    # One patient's documents: their record is not joined again for each (nor its phone numbers parsed).
    documents = documents.select_related(None).select_related("session")
    return list(documents.order_by("-session__performed_at", "kind")[:PATIENT_PAGE_LIMIT])


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
