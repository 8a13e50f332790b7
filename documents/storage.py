"""Store: put a rendered PDF into private storage and mark its row READY, exactly once.

The file is written under a temporary name and moved into place in one step, so a reader (or a crash) never
sees half a PDF under the real name. The row is locked while we check and write: of two runs of the same
task, the second finds READY and writes nothing, neither a file nor a second DOCUMENT_RENDERED audit event.
"""

import hashlib
import os
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, Storage, default_storage
from django.db import transaction
from django.utils import timezone

from audit.models import Action, Source
from audit.services import record
from documents.models import Document, DocumentStatus

if TYPE_CHECKING:
    from documents.render import RenderedPdf


def storage_name(document: Document) -> str:
    # Ids and kind only: a file listing or a backup manifest shows no names.
    return f"sessions/{document.session_id}/{document.kind}-v{document.version}-{document.pk}.pdf"


def write_atomically(storage: Storage, name: str, content: bytes) -> str:
    """Write `content` as `name`, all or nothing; returns the name actually used."""
    if isinstance(storage, FileSystemStorage):
        temporary = storage.save(f"{name}.{uuid.uuid4().hex}.partial", ContentFile(content))
        try:
            # Same folder, same file system: os.replace is atomic and overwrites a leftover from a crashed run.
            os.replace(storage.path(temporary), storage.path(name))
        except BaseException:
            storage.delete(temporary)
            raise
        return name
    # Object stores (S3 and the like) publish an object in one PUT: a single save is already atomic.
    return storage.save(name, ContentFile(content))


def read_verified(document: Document) -> bytes | None:
    """The stored file's bytes if they still match the SHA-256 taken when it was stored; None if they do not, or
    if the file is missing or unreadable (either way it is not the file we made)."""
    try:
        with default_storage.open(document.file_name, "rb") as stored:
            content = stored.read()
    except OSError:
        return None
    return content if hashlib.sha256(content).hexdigest() == document.sha256 else None


@transaction.atomic
def store_document(document_id: int, rendered: "RenderedPdf", *, on_ready: Callable[[Document], object] | None = None):
    """Save the PDF and mark the document READY; does nothing (returns False) if it already is. `on_ready` runs
    in the same transaction, after the row is READY, so the work it owes commits (or not) with it; not for a
    rebuild of a damaged file, which is the same document the patient was already told about."""
    document = Document.objects.select_for_update().get(pk=document_id)
    if document.status == DocumentStatus.READY:
        return False
    document.file_name = write_atomically(default_storage, storage_name(document), rendered.content)
    document.sha256 = hashlib.sha256(rendered.content).hexdigest()
    document.size_bytes = len(rendered.content)
    document.page_count = rendered.page_count
    document.status, document.last_error, document.claimed_at = DocumentStatus.READY, "", None
    document.ready_at = document.checksum_checked_at = timezone.now()
    rebuilt = document.rebuild_requested_at is not None
    document.rebuild_requested_at = None
    fields = ["file_name", "sha256", "size_bytes", "page_count", "status", "last_error", "claimed_at", "ready_at"]
    document.save(update_fields=[*fields, "checksum_checked_at", "rebuild_requested_at"])
    # In this transaction: what becoming ready owes is written with it. A rebuilt file owes nothing new.
    if on_ready is not None and not rebuilt:
        on_ready(document)
    # Last, because the audit insert holds its lock until the commit.
    detail = {"kind": document.kind, "version": document.version, "pages": document.page_count}
    if rebuilt:
        detail["rebuilt"] = "the stored file failed its checksum"
    record(Action.DOCUMENT_RENDERED, patient=document.patient_id, obj=document, detail=detail, source=Source.TASK)
    return True
