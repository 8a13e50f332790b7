"""Sending a stored PDF to a user: verify the checksum, audit the download, send it as an attachment.

Each download sent is recorded twice: a DocumentDownload row (the documents app's own list) and a
DOCUMENT_DOWNLOADED event in the audit trail (the patient's accounting of disclosures reads that one).

Authorisation is the caller's job (see documents.access.get_document_for); this module only
refuses what must never be sent, a file whose bytes no longer match the SHA-256 taken when it was stored, and
has that document rebuilt. A store that cannot be reached just now is not that: the user is asked to try again
shortly, and nothing is rebuilt or recorded as downloaded.
"""

import logging

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils import timezone

from accounts.decorators import AuthenticatedHttpRequest
from audit.models import Action
from audit.services import record
from documents.models import Document, DocumentDownload, DocumentStatus
from documents.services import document_rebuild
from documents.storage import StorageUnavailable, read_verified

logger = logging.getLogger(__name__)

# 410 Gone: the document the user asked for exists as a record, but its file is not the one we made.
TAMPERED_STATUS = 410
# 503 with Retry-After: the store did not answer; the file is, as far as anyone knows, intact.
UNAVAILABLE_STATUS = 503
RETRY_AFTER_SECONDS = 120


def refused_download(request: HttpRequest, template: str, context: dict, status: int) -> HttpResponse:
    """A download's refusal page, never cached; a 503 (the store did not answer) says when to try again. The one
    shape for every stored file the portal hands out (registry exports, bulk exports, copies of a record)."""
    response = render(request, template, context, status=status)
    response["Cache-Control"] = "no-store"
    if status == UNAVAILABLE_STATUS:
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def download_file_name(document: Document) -> str:
    """A neutral name (no patient name: downloads folders and mail attachments leak)."""
    performed = timezone.localdate(document.session.performed_at)
    kind = document.kind.replace("_", "-")
    version = f"-v{document.version}" if document.version > 1 else ""
    return f"{kind}-{performed.isoformat()}{version}.pdf"


def _refused(document: Document, user) -> HttpResponse:
    """Not sent; the document is rebuilt from its signed record (documents.services.document_rebuild)."""
    DocumentDownload.objects.create(document=document, user=user, checksum_ok=False)
    # Ids only: the log must not carry the patient's name or the document's content.
    logger.error("document %s failed its checksum on download by user %s; not sent", document.pk, user.pk)
    document_rebuild(document_id=document.pk)
    html = render_to_string("documents/tampered.html", {"document": document})
    return HttpResponse(html, status=TAMPERED_STATUS, headers={"Cache-Control": "no-store"})


def _store_unavailable(document: Document, user, error: StorageUnavailable) -> HttpResponse:
    logger.error("document %s could not be read for user %s: %s; asked to try again", document.pk, user.pk, error)
    html = render_to_string("documents/unavailable.html", {"document": document})
    headers = {"Cache-Control": "no-store", "Retry-After": str(RETRY_AFTER_SECONDS)}
    return HttpResponse(html, status=UNAVAILABLE_STATUS, headers=headers)


def _not_ready(document: Document) -> HttpResponse:
    html = render_to_string("documents/not_ready.html", {"document": document})
    return HttpResponse(html, status=409, headers={"Cache-Control": "no-store"})


def _audit_download(request: HttpRequest, document: Document, via: str) -> None:
    detail = {"kind": document.kind, "version": document.version, "via": via}
    record(Action.DOCUMENT_DOWNLOADED, request=request, patient=document.patient_id, obj=document, detail=detail)


def document_response(document: Document, request: AuthenticatedHttpRequest, *, via: str = "staff") -> HttpResponse:
    """The PDF as an attachment, after checking its SHA-256; records a DocumentDownload whether the check passed
    or not, and a DOCUMENT_DOWNLOADED audit event when it is sent. `via` says which pages it went out through.

    A document that is not READY yet has no file: 409, and nothing to record because nothing was read or sent.
    Likewise when the store cannot be read just now: 503, asking to try again in a few minutes."""
    user = request.user
    if document.status != DocumentStatus.READY or not document.file_name:
        return _not_ready(document)
    try:
        content = read_verified(document)
    except StorageUnavailable as error:
        return _store_unavailable(document, user, error)
    if content is None:
        return _refused(document, user)
    DocumentDownload.objects.create(document=document, user=user, checksum_ok=True)
    _audit_download(request, document, via)
    logger.info("document %s downloaded by user %s", document.pk, user.pk)
    response = HttpResponse(content, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{download_file_name(document)}"'
    response["Content-Length"] = str(len(content))
    response["Cache-Control"] = "no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response
