"""Who may fetch which document. Everything not explicitly allowed is a 404, so ids reveal nothing."""

from django.db.models import Q, QuerySet
from django.http import Http404

from audit.refusals import not_found
from documents.models import Document, DocumentStatus


def own_documents(patient_id: int) -> QuerySet[Document]:
    """What a patient may download of their own: their documents that are ready, superseded versions included
    (the portal marks them as replaced): a version they were given stays theirs to read. One whose file is being
    rebuilt stays listed, shown as such (the download answers "not ready" meanwhile)."""
    rebuilding = Q(status=DocumentStatus.PENDING, rebuild_requested_at__isnull=False)
    return Document.objects.filter(Q(status=DocumentStatus.READY) | rebuilding, patient_id=patient_id)


def documents_visible_to(user):
    """The documents `user` may download: staff with view permission see all, a patient their own ready ones."""
    documents = Document.objects.select_related("session", "patient")
    if not user.is_authenticated or not user.is_active:
        return documents.none()
    if user.has_perm("documents.view_document"):
        return documents
    patient = getattr(user, "patient", None) if user.is_patient_user else None
    if patient is None:
        return documents.none()
    return own_documents(patient.pk).select_related("session", "patient")


def get_document_for(user, pk: int) -> Document:
    """The document `pk` if `user` may have it; Http404 otherwise (also for ids that do not exist).

    Someone else's document is refused with the same 404 and audited (a patient's own document that is
    not ready is simply not there for them)."""
    try:
        return documents_visible_to(user).get(pk=pk)
    except (Document.DoesNotExist, ValueError, TypeError):
        if not user.is_authenticated:
            raise Http404("No such document.") from None
        raise not_found("document", pk, Document.objects.exclude(patient__user=user)) from None
