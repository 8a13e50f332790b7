"""Store: put a rendered PDF into private storage and mark its row READY, exactly once.

The file is written under a temporary name and moved into place in one step, so a reader (or a crash) never
sees half a PDF under the real name. The row is locked while we check and write: of two runs of the same
task, the second finds READY and writes nothing, neither a file nor a second DOCUMENT_RENDERED audit event.

A store that cannot be reached is not a damaged document: `store_errors` tells the two apart for every backend
(the file system, or an S3-compatible bucket through documents.object_storage), so that an outage is waited out
and only a file that is really missing or altered is rebuilt.
"""

import hashlib
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError
from django.core.files.base import ContentFile, File
from django.core.files.storage import FileSystemStorage, Storage, default_storage
from django.db import transaction
from django.utils import timezone

from audit.models import Action, Source
from audit.services import record
from documents.models import Document, DocumentStatus

if TYPE_CHECKING:
    from documents.render import RenderedPdf


class StorageUnavailable(OSError):
    """The document store could not be reached, or failed to answer. It said nothing about the file itself: as far
    as anyone knows the file is intact, so try again later and rebuild nothing. An OSError, as a refused or timed-out
    connection is: whatever retries those (the render task) retries this."""


# What S3 answers for an object that is not there: GetObject's code, and HeadObject's (which has no body). Not
# NoSuchBucket, also a 404: a bucket that is not there is the store's configuration, not a missing document.
NO_SUCH_OBJECT = {"NoSuchKey", "NotFound", "404"}


def _no_such_object(error: Exception) -> bool:
    if isinstance(error, FileNotFoundError):
        return True
    return isinstance(error, ClientError) and error.response.get("Error", {}).get("Code") in NO_SUCH_OBJECT


def _store_failed(error: Exception) -> bool:
    """Any other answer the store gave, or the way to it: a refused or timed-out connection, a 5xx, throttling, a
    refusal (403: with s3:ListBucket granted, a missing object answers 404, so a 403 is the credentials or the
    policy), a transfer given up after its retries; on the file system, any OSError but a missing file."""
    from s3transfer.exceptions import RetriesExceededError  # loaded with boto3 wherever a bucket is used

    return isinstance(error, (OSError, BotoCoreError, ClientError, RetriesExceededError))


@contextmanager
def store_errors() -> Iterator[None]:
    """Around a call to a storage backend: it raises FileNotFoundError when the store says the file is not there,
    StorageUnavailable when the store could not say, and anything else (a bug) as it was."""
    try:
        yield
    except StorageUnavailable:
        raise
    except Exception as error:
        if _no_such_object(error):
            if isinstance(error, FileNotFoundError):
                raise
            raise FileNotFoundError("not in the document store") from error
        if _store_failed(error):
            raise StorageUnavailable(f"the document store did not answer ({type(error).__name__})") from error
        raise


READ_CHUNK = 1024 * 1024


def file_digest(content) -> tuple[str, int]:
    """The SHA-256 (hex) and size in bytes of a file-like object read from its start in chunks, never whole into
    memory; it is left at its start again for whoever reads it next (a store saving it)."""
    content.seek(0)
    digest, size = hashlib.sha256(), 0
    while chunk := content.read(READ_CHUNK):
        digest.update(chunk)
        size += len(chunk)
    content.seek(0)
    return digest.hexdigest(), size


def stored_digest(storage: Storage, name: str) -> tuple[str, int]:
    """file_digest of a stored file, read in chunks. Raises FileNotFoundError when it is not there, and
    StorageUnavailable when the store could not say."""
    with store_errors(), storage.open(name, "rb") as stored:
        return file_digest(stored)


def storage_name(document: Document) -> str:
    # Ids and kind only: a file listing or a backup manifest shows no names.
    return f"sessions/{document.session_id}/{document.kind}-v{document.version}-{document.pk}.pdf"


def write_atomically(storage: Storage, name: str, content: bytes | File) -> str:
    """Write `content` (bytes, or a File, read from its start) as `name`, all or nothing; returns the name actually
    used. Raises StorageUnavailable when the store cannot take it (the render task retries that)."""
    with store_errors():
        return _write(storage, name, content if isinstance(content, File) else ContentFile(content))


def _write(storage: Storage, name: str, content: File) -> str:
    if isinstance(storage, FileSystemStorage):
        temporary = storage.save(f"{name}.{uuid.uuid4().hex}.partial", content)
        try:
            # Same folder, same file system: os.replace is atomic and overwrites a leftover from a crashed run.
            os.replace(storage.path(temporary), storage.path(name))
        except BaseException:
            storage.delete(temporary)
            raise
        return name
    # Object stores (S3 and the like) publish an object in one PUT (or a multipart upload completed in one call):
    # a single save is already atomic.
    return storage.save(name, content)


def read_verified(document: Document) -> bytes | None:
    """The stored file's bytes if they still match the SHA-256 taken when it was stored; None if they do not, or
    if the file is missing (either way it is not the file we made). Raises StorageUnavailable if the store could
    not be read: then nothing is known about the file."""
    try:
        with store_errors(), default_storage.open(document.file_name, "rb") as stored:
            content = stored.read()
    except FileNotFoundError:
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
