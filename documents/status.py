"""The documents status box on the session and patient pages, and the partial htmx polls to refresh it."""

from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest
from django.middleware.csrf import get_token
from django.utils.safestring import SafeString

from documents.access import documents_visible_to
from documents.models import Document, DocumentKind, DocumentStatus
from pit_portal.fragments import IdLinks, render_fragment
from pit_portal.prepared import PreparedQuery

PATIENT_PAGE_LIMIT = 20
POLL_SECONDS = 3
POLL_LINKS = {"session": "documents:session_status", "patient": "documents:patient_status"}


@dataclass(frozen=True)
class DocumentLine:
    """A document as the box lists it: read as a plain row (the patient page's box holds up to twenty)."""

    pk: int
    kind: str
    version: int
    status: str
    superseded_at: datetime | None
    last_error: str
    rebuild_requested_at: datetime | None
    session_performed_at: datetime

    @property
    def kind_label(self) -> str:
        return DocumentKind(self.kind).label

    @property
    def is_current(self) -> bool:
        return self.superseded_at is None

    @property
    def is_rebuilding(self) -> bool:
        return self.status == DocumentStatus.PENDING and self.rebuild_requested_at is not None


LINE_COLUMNS = (
    "pk", "kind", "version", "status", "superseded_at", "last_error", "rebuild_requested_at", "session__performed_at"
)  # fmt: skip


def session_documents(user, session_id: int) -> list[DocumentLine]:
    """Every version of the session's documents, newest first (staff may still need a superseded one)."""
    documents = documents_visible_to(user).filter(session_id=session_id).order_by("-version", "kind")
    return [DocumentLine(*row) for row in documents.values_list(*LINE_COLUMNS)]


def _current_documents(patient_id: int) -> QuerySet[Document]:
    """A patient's current documents, newest session first, with what the box shows of each and its session."""
    return (
        Document.objects.filter(patient_id=patient_id, superseded_at__isnull=True)
        .order_by("-session__performed_at", "kind")
        .values_list(*LINE_COLUMNS)[:PATIENT_PAGE_LIMIT]
    )


# Read on every patient page: compiled once (pit_portal.prepared).
CURRENT_DOCUMENTS = PreparedQuery(_current_documents)


def patient_documents(user, patient_id: int) -> list[DocumentLine]:
    """The patient box's documents. It is for staff who may see documents, who see every one of them
    (documents.access.documents_visible_to); anyone else is refused."""
    if not user.has_perm("documents.view_document"):
        raise PermissionDenied
    return [DocumentLine(*row) for row in CURRENT_DOCUMENTS.rows(patient_id)]


def patient_box(request: HttpRequest, patient_id: int) -> SafeString:
    """The patient's current documents, newest session first, in the box (one query)."""
    documents = patient_documents(request.user, patient_id)
    return status_box(request, documents, scope="patient", scope_id=patient_id)


def status_box(request: HttpRequest, documents: list[DocumentLine], *, scope: str, scope_id: int) -> SafeString:
    """The documents box (documents/jinja2/documents/_status.html)."""
    context = status_context(request.user, documents, scope=scope, scope_id=scope_id, csrf_token=get_token(request))
    return render_fragment("documents/_status.html", context)


def status_context(user, documents: list[DocumentLine], *, scope: str, scope_id: int, csrf_token=None) -> dict:
    """What _status.html needs; it polls only while something is still pending, then stops by itself."""
    return {
        "documents": documents,
        "scope": scope,
        "dom_id": f"documents-{scope}-{scope_id}",
        "poll_url": IdLinks.reversed(POLL_LINKS).to(scope, scope_id),
        "polling": any(document.status == DocumentStatus.PENDING for document in documents),
        "poll_seconds": POLL_SECONDS,
        "can_download": user.has_perm("documents.view_document"),
        "can_retry": user.has_perm("documents.change_document"),
        "csrf_token": csrf_token,
        "links": IdLinks.reversed({"download": "documents:download", "retry": "documents:retry"}),
    }
