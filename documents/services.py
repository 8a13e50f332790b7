"""Document actions: request PDFs for a signed session, send what an appointment change left pending, build one,
fail one, retry one, rebuild a damaged one, sweep stale ones; owe the "sheet is ready" email.

The database row is the source of truth for pending work. Rows are written in the caller's transaction;
the Celery message (the document id, nothing else) is sent only after that transaction commits.
"""

import logging
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import F, OuterRef, Q, Subquery
from django.utils import timezone

from audit.models import Action, Source
from audit.services import record
from documents import context
from documents.models import Document, DocumentKind, DocumentStatus
from documents.storage import StorageUnavailable, read_verified
from pit_portal.outbox.models import EmailKind
from pit_portal.outbox.services import email_owe
from treatments.models import InjectionSession
from treatments.signature import SignedNoteAltered

logger = logging.getLogger(__name__)

# Across sweeps and retries: a document tried this often without becoming ready is failed for a human to look at.
# Three rounds of the render task's retries (documents.tasks.MAX_RETRIES + 1 tries each): a transient outage
# is given well over the half hour it needs, while a document that kills its worker every time (a poison pill,
# which the sweeper sends again every couple of minutes) is stopped within the hour.
MAX_ATTEMPTS = 27


def stale_after() -> timedelta:
    """How long a run may hold a document, or a message wait for a worker, before the sweeper sends it again."""
    return timedelta(seconds=settings.DOCUMENTS_STALE_AFTER_SECONDS)


def retry_wait() -> timedelta:
    """The longest a document waits for its next retry (the backoff's cap): the sweeper leaves it alone till then."""
    return timedelta(seconds=settings.DOCUMENTS_RETRY_BACKOFF_MAX)


ERROR_MAX = 500
ALTERED_NOTE = "Not rendered: the signed note no longer matches the SHA-256 taken when it was signed."


def _send(task_name: str, record_id: int) -> None:
    from documents import tasks  # the task module imports this one

    try:
        getattr(tasks, task_name).delay(record_id)
    except Exception:
        # The broker is down: the rows stay PENDING and the sweeper sends them again later.
        logger.exception("could not send %s(%s); the sweeper will retry", task_name, record_id)


def enqueue_on_commit(document_id: int) -> None:
    transaction.on_commit(partial(_send, "render_document", document_id))


# No savepoint of its own: the callers' transaction (signing, an addendum) is all or nothing anyway.
@transaction.atomic(savepoint=False)
def documents_request(*, session: InjectionSession) -> list[Document]:
    """A new pending version of each document kind for a signed session; older versions are superseded."""
    # Lock the session row so two addenda at once cannot both claim the same version number.
    versions = Document.objects.filter(session_id=OuterRef("pk")).order_by("-version").values("version")[:1]
    locked = InjectionSession.objects.select_for_update(of=("self",)).annotate(last_version=Subquery(versions))
    last = locked.values_list("last_version", flat=True).get(pk=session.pk) or 0
    now = timezone.now()
    if last:
        Document.objects.filter(session_id=session.pk, superseded_at__isnull=True).update(superseded_at=now)
    return _create_versions(session, last + 1, now)


def documents_request_first(*, session: InjectionSession) -> list[Document]:
    """Version 1 of each document kind for a session being signed, in the signing transaction (which holds
    the session's row lock). Documents are made only for signed notes, and a note is signed once, so there
    is nothing to supersede and no version to count."""
    return _create_versions(session, 1, timezone.now())


def _create_versions(session: InjectionSession, version: int, now) -> list[Document]:
    documents = Document.objects.bulk_create(
        Document(patient_id=session.course.patient_id, session_id=session.pk, kind=kind, version=version,
                 enqueued_at=now)
        for kind in DocumentKind.values
    )  # fmt: skip
    for document in documents:
        enqueue_on_commit(document.pk)
    return documents


def render_pending_after_commit(*, patient_id: int) -> None:
    """Have the worker render, after the caller's transaction commits, whatever it left pending for the patient:
    a change to their appointments may have made a new version of their aftercare sheet (the database does that,
    in the same transaction: migration documents/0007). A message, not a query, so a booking costs none more."""
    transaction.on_commit(partial(_send, "render_pending", patient_id))


def documents_send_pending(*, patient_id: int) -> list[int]:
    """Send the render task for each of the patient's aftercare sheets still pending and not yet tried; their ids."""
    ids = list(
        Document.objects.filter(
            patient_id=patient_id, kind=DocumentKind.AFTERCARE, status=DocumentStatus.PENDING, attempts=0
        ).values_list("pk", flat=True)
    )
    for document_id in ids:
        _send("render_document", document_id)
    return ids


@transaction.atomic
def _claim(document_id: int) -> Document | None:
    """Count the attempt and mark the document as being rendered; None when there is nothing to do: it is ready,
    gone, or another run (not yet stale) is rendering it, so a message sent twice renders it once."""
    document = Document.objects.select_for_update().filter(pk=document_id).first()
    if document is None or document.status != DocumentStatus.PENDING:
        return None
    now = timezone.now()
    if document.claimed_at is not None and document.claimed_at > now - stale_after():
        logger.info("document %s is being rendered by another run; nothing to do", document_id)
        return None
    document.attempts += 1
    document.claimed_at = now
    document.save(update_fields=["attempts", "claimed_at"])
    return document


def document_build(document_id: int) -> bool:
    """Render and store one document; True if this call made it READY. Safe to run any number of times."""
    document = _claim(document_id)
    if document is None:
        return False
    if document.attempts > MAX_ATTEMPTS:
        document_mark_failed(document_id, f"Gave up after {MAX_ATTEMPTS} attempts (worker lost or timed out).")
        return False
    # Imported here so WeasyPrint is loaded only where documents are rendered (the worker), not by every
    # web process that merely signs a note.
    from documents import render, storage

    try:
        template_name, data = context.template_and_context(document)
    except SignedNoteAltered as altered:
        _refuse_altered_note(document, altered.session)
        return False
    rendered = render.render_pdf(template_name, data)
    made = storage.store_document(document_id, rendered, on_ready=ready_email_owe)
    logger.info("document %s %s", document_id, "ready" if made else "was already ready; nothing written")
    return made


def ready_email_owe(document: Document) -> int | None:
    """Called in the transaction that makes a document READY: the visit's first ready aftercare sheet owes its
    patient one email (pit_portal.outbox, keyed by the visit). Later versions of the sheet owe nothing more."""
    if document.kind != DocumentKind.AFTERCARE or not document.is_current:
        return None
    return email_owe(kind=EmailKind.AFTERCARE_READY, object_id=document.session_id)


def _refuse_altered_note(document: Document, session: InjectionSession) -> None:
    """Terminal, not retried: the note would render the same way every time. Staff see why; the trail records it."""
    detail = {"shown_in": "document", "document": document.pk}
    record(Action.SIGNED_NOTE_ALTERED, patient=document.patient_id, obj=session, detail=detail, source=Source.TASK)
    document_mark_failed(document.pk, ALTERED_NOTE)


def document_mark_failed(document_id: int, error: str) -> None:
    """Terminal failure: staff see the reason and a Retry button. `error` must carry no patient data."""
    updated = Document.objects.filter(pk=document_id).exclude(status=DocumentStatus.READY)
    updated.update(status=DocumentStatus.FAILED, last_error=error[:ERROR_MAX], claimed_at=None)
    logger.error("document %s failed: %s", document_id, error[:ERROR_MAX])


def document_note_transient_failure(document_id: int, error: str) -> None:
    """A failure that may clear (storage, database, network): the document stays PENDING with the reason, its
    run lets go of it, and a retry (or, once the task's retries are spent, the sweeper) tries again."""
    updated = Document.objects.filter(pk=document_id, status=DocumentStatus.PENDING)
    updated.update(last_error=error[:ERROR_MAX], claimed_at=None, enqueued_at=timezone.now())
    logger.warning("document %s will be tried again: %s", document_id, error[:ERROR_MAX])


@transaction.atomic
def document_rebuild(*, document_id: int) -> bool:
    """A ready document whose stored file is damaged or missing is made again, by the render task, from the signed
    record as this version was made (documents.context takes only the addenda written before it). Meanwhile it
    shows as being rebuilt. True if this call asked for it; a second call, or a document no longer ready, does
    nothing. The rebuild is audited when its file is stored (documents.storage)."""
    document = Document.objects.select_for_update().filter(pk=document_id, status=DocumentStatus.READY).first()
    if document is None:
        return False
    _requeue(document, rebuild_requested_at=timezone.now())
    logger.error("document %s: stored file damaged or missing; rebuilding it", document_id)
    return True


def _requeue(document: Document, **changes) -> None:
    """Pending again with a fresh attempt budget; the render task is sent once the caller's transaction commits."""
    now = timezone.now()
    changes.update(status=DocumentStatus.PENDING, attempts=0, last_error="", claimed_at=None, enqueued_at=now)
    for field, value in changes.items():
        setattr(document, field, value)
    document.save(update_fields=list(changes))
    enqueue_on_commit(document.pk)


# Reads in a row the store did not answer before a check stops: it is down, and each read would wait out its
# time-outs. A single object the store refuses is skipped; the documents skipped come first again next run.
UNREACHABLE_STOP_AFTER = 3


def documents_verify(*, limit: int | None = None) -> list[int]:
    """Check the stored files of the ready documents checked longest ago (a bounded batch per run, so every file
    is read in turn); rebuild those that fail. A file the store could not be asked about is neither: it is left
    for the next run, and the run stops once the store looks down. Returns the ids sent for rebuilding."""
    batch = Document.objects.filter(status=DocumentStatus.READY).order_by(
        F("checksum_checked_at").asc(nulls_first=True), "pk"
    )
    damaged: list[int] = []
    unanswered = 0
    for document in batch.only("pk", "file_name", "sha256")[: limit or settings.DOCUMENTS_CHECKSUM_BATCH]:
        try:
            content = read_verified(document)
        except StorageUnavailable as error:
            unanswered += 1
            logger.warning("document %s could not be checked: %s", document.pk, error)
            if unanswered >= UNREACHABLE_STOP_AFTER:
                logger.error("the document store is not answering; the checksum check stops until its next run")
                break
            continue
        unanswered = 0
        if content is None and document_rebuild(document_id=document.pk):
            damaged.append(document.pk)
        else:
            Document.objects.filter(pk=document.pk).update(checksum_checked_at=timezone.now())
    return damaged


@transaction.atomic
def document_retry(*, document: Document, by) -> Document:
    """Put a failed document back in the queue with a fresh attempt budget."""
    if not by.has_perm("documents.change_document"):
        raise PermissionDenied
    document = Document.objects.select_for_update().get(pk=document.pk)
    if document.status != DocumentStatus.FAILED:
        return document
    _requeue(document)
    logger.info("document %s re-queued by user %s", document.pk, by.pk)
    return document


def _stale_documents(now, older_than: timedelta) -> Q:
    """Pending documents nobody is working on: sent a while ago and not picked up (a lost message), held by a run
    past the stale threshold (a killed worker), or past the longest wait for a retry that never came."""
    cutoff = now - older_than
    waited = Q(enqueued_at__lte=cutoff) | Q(enqueued_at__isnull=True)
    return Q(status=DocumentStatus.PENDING) & (
        Q(claimed_at__isnull=True, last_error="") & waited
        | Q(claimed_at__isnull=True, enqueued_at__lte=cutoff - retry_wait())
        | Q(claimed_at__lte=cutoff)
    )


@transaction.atomic
def documents_sweep(*, older_than: timedelta | None = None) -> list[int]:
    """Re-enqueue documents left pending with nobody working on them; returns their ids."""
    now = timezone.now()
    stale = (
        Document.objects.select_for_update(skip_locked=True)
        .filter(_stale_documents(now, stale_after() if older_than is None else older_than))
        .order_by("enqueued_at")
    )
    ids = list(stale.values_list("pk", flat=True)[:500])
    Document.objects.filter(pk__in=ids).update(enqueued_at=now, claimed_at=None)
    for document_id in ids:
        enqueue_on_commit(document_id)
    if ids:
        logger.warning("sweeper re-enqueued %d stale pending documents: %s", len(ids), ids)
    return ids
