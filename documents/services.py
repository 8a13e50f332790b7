"""Document actions: request PDFs for a signed session, send what an appointment change left pending, build one,
fail one, retry one, sweep stale ones; owe and sweep the "sheet is ready" email.

The database row is the source of truth for pending work. Rows are written in the caller's transaction;
the Celery message (the document id, nothing else) is sent only after that transaction commits.
"""

import logging
from datetime import timedelta
from functools import partial

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import OuterRef, Q, Subquery
from django.utils import timezone

from audit.models import Action, Source
from audit.services import record
from documents import context
from documents.models import Document, DocumentKind, DocumentStatus, ReadyEmail, ReadyEmailStatus
from treatments.models import InjectionSession
from treatments.signature import SignedNoteAltered

logger = logging.getLogger(__name__)

# Across sweeps and retries: a document that has killed the worker (or hit the hard time limit) this often
# is a poison pill, and is failed for a human to look at rather than re-queued for ever.
MAX_ATTEMPTS = 8
STALE_AFTER = timedelta(minutes=10)
# A "your sheet is ready" email still unsent this long after the sheet was ready is news no longer: the sweeper
# stops sending it again (the patient has the sheet in the portal either way), which also bounds the retries of
# an address the mail server keeps refusing.
READY_EMAIL_WORTH_SENDING = timedelta(days=2)
ERROR_MAX = 500
ALTERED_NOTE = "Not rendered: the signed note no longer matches the SHA-256 taken when it was signed."


def _enqueue(document_id: int) -> None:
    from documents.tasks import render_document  # the task module imports this one

    try:
        render_document.delay(document_id)
    except Exception:
        # The broker is down: the row stays PENDING and the sweeper sends it again later.
        logger.exception("could not enqueue document %s; the sweeper will retry", document_id)


def enqueue_on_commit(document: Document) -> None:
    transaction.on_commit(partial(_enqueue, document.pk))


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
        enqueue_on_commit(document)
    return documents


def render_pending_after_commit(*, patient_id: int) -> None:
    """Have the worker render, after the caller's transaction commits, whatever it left pending for the patient:
    a change to their appointments may have made a new version of their aftercare sheet (the database does that,
    in the same transaction: migration documents/0007). A message, not a query, so a booking costs none more."""
    transaction.on_commit(partial(_enqueue_pending, patient_id))


def _enqueue_pending(patient_id: int) -> None:
    from documents.tasks import render_pending  # the task module imports this one

    try:
        render_pending.delay(patient_id)
    except Exception:
        # The rows stay PENDING and the sweeper sends them later.
        logger.exception("could not enqueue pending documents of patient %s; the sweeper will retry", patient_id)


def documents_send_pending(*, patient_id: int) -> list[int]:
    """Send the render task for each of the patient's aftercare sheets still pending and not yet tried; their ids."""
    ids = list(
        Document.objects.filter(
            patient_id=patient_id, kind=DocumentKind.AFTERCARE, status=DocumentStatus.PENDING, attempts=0
        ).values_list("pk", flat=True)
    )
    for document_id in ids:
        _enqueue(document_id)
    return ids


@transaction.atomic
def _claim(document_id: int) -> Document | None:
    """Count the attempt; None when there is nothing to do (already ready, or gone)."""
    document = Document.objects.select_for_update().filter(pk=document_id).first()
    if document is None or document.status == DocumentStatus.READY:
        return None
    document.attempts += 1
    document.save(update_fields=["attempts"])
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


def ready_email_owe(document: Document) -> ReadyEmail | None:
    """Called in the transaction that makes a document READY: the visit's first ready aftercare sheet owes its
    patient one email, written here as a row and sent after commit. Later versions of the sheet owe nothing more."""
    if document.kind != DocumentKind.AFTERCARE or not document.is_current:
        return None
    owed, created = ReadyEmail.objects.get_or_create(
        session_id=document.session_id, defaults={"patient_id": document.patient_id, "enqueued_at": timezone.now()}
    )
    if created:
        transaction.on_commit(partial(_enqueue_email, owed.pk))
    return owed


def _refuse_altered_note(document: Document, session: InjectionSession) -> None:
    """Terminal, not retried: the note would render the same way every time. Staff see why; the trail records it."""
    detail = {"shown_in": "document", "document": document.pk}
    record(Action.SIGNED_NOTE_ALTERED, patient=document.patient_id, obj=session, detail=detail, source=Source.TASK)
    document_mark_failed(document.pk, ALTERED_NOTE)


def _enqueue_email(ready_email_id: int) -> None:
    from documents.tasks import send_ready_email

    try:
        send_ready_email.delay(ready_email_id)
    except Exception:
        # The row stays PENDING and the sweeper sends it again later.
        logger.exception("could not enqueue ready email %s; the sweeper will retry", ready_email_id)


def document_mark_failed(document_id: int, error: str) -> None:
    """Terminal failure: staff see the reason and a Retry button. `error` must carry no patient data."""
    updated = Document.objects.filter(pk=document_id).exclude(status=DocumentStatus.READY)
    updated.update(status=DocumentStatus.FAILED, last_error=error[:ERROR_MAX])
    logger.error("document %s failed: %s", document_id, error[:ERROR_MAX])


@transaction.atomic
def document_retry(*, document: Document, by) -> Document:
    """Put a failed document back in the queue with a fresh attempt budget."""
    if not by.has_perm("documents.change_document"):
        raise PermissionDenied
    document = Document.objects.select_for_update().get(pk=document.pk)
    if document.status != DocumentStatus.FAILED:
        return document
    document.status = DocumentStatus.PENDING
    document.attempts = 0
    document.last_error = ""
    document.enqueued_at = timezone.now()
    document.save(update_fields=["status", "attempts", "last_error", "enqueued_at"])
    enqueue_on_commit(document)
    logger.info("document %s re-queued by user %s", document.pk, by.pk)
    return document


@transaction.atomic
def documents_sweep(*, older_than: timedelta = STALE_AFTER) -> list[int]:
    """Re-enqueue documents still pending a while after they were last sent; returns their ids."""
    cutoff = timezone.now() - older_than
    stale = (
        Document.objects.select_for_update(skip_locked=True)
        .filter(status=DocumentStatus.PENDING)
        .filter(Q(enqueued_at__lte=cutoff) | Q(enqueued_at__isnull=True))
        .order_by("enqueued_at")
    )
    ids = list(stale.values_list("pk", flat=True)[:500])
    Document.objects.filter(pk__in=ids).update(enqueued_at=timezone.now())
    for document_id in ids:
        transaction.on_commit(partial(_enqueue, document_id))
    if ids:
        logger.warning("sweeper re-enqueued %d stale pending documents: %s", len(ids), ids)
    return ids


@transaction.atomic
def ready_emails_sweep(*, older_than: timedelta = STALE_AFTER) -> list[int]:
    """Re-enqueue ready emails still owed a while after they were last sent to the broker, unless they are no
    longer worth sending; returns their ids."""
    now = timezone.now()
    cutoff = now - older_than
    stale = (
        ReadyEmail.objects.select_for_update(skip_locked=True)
        .filter(status=ReadyEmailStatus.PENDING, created_at__gte=now - READY_EMAIL_WORTH_SENDING)
        .filter(Q(enqueued_at__lte=cutoff) | Q(enqueued_at__isnull=True))
        .order_by("enqueued_at")
    )
    ids = list(stale.values_list("pk", flat=True)[:500])
    ReadyEmail.objects.filter(pk__in=ids).update(enqueued_at=now)
    for ready_email_id in ids:
        transaction.on_commit(partial(_enqueue_email, ready_email_id))
    if ids:
        logger.warning("sweeper re-enqueued %d owed ready emails: %s", len(ids), ids)
    return ids
