"""Background work for documents. Tasks are thin: ids in, a service call inside, nothing else on the broker."""

import logging
from datetime import timedelta
from smtplib import SMTPException

from botocore.exceptions import BotoCoreError, ClientError
from celery import Task, shared_task
from celery.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded
from celery.signals import worker_process_init
from django.conf import settings
from django.db import InterfaceError, OperationalError

from documents import notifications, services

logger = logging.getLogger(__name__)

# Soft < hard < the stale threshold (settings.DOCUMENTS_STALE_AFTER_SECONDS), so a run still rendering is never
# taken for a lost one; hard < the broker's visibility timeout, so Redis never hands a running task out twice.
SOFT_TIME_LIMIT = 45
HARD_TIME_LIMIT = 60
# Failures that may clear by themselves: storage or network (OSError covers both, and a store that did not answer,
# documents.storage.StorageUnavailable; boto's own errors are named too, should one reach here unclassified), the
# database restarting, the mail server, a slow machine hitting the soft limit. Anything else (a template error, a
# session that is gone) will fail the same way every time, so the document is FAILED at once, with its reason.
TRANSIENT_ERRORS = (
    OSError,
    BotoCoreError,
    ClientError,
    OperationalError,
    InterfaceError,
    SMTPException,
    SoftTimeLimitExceeded,
)
# With full jitter each wait is drawn from [0, min(backoff_max, backoff * 2**n)]: 60, 120, 240, 480, then 900 s
# caps, 4500 s in all, so about 37 minutes expected across one round of tries. When a round is spent the document
# stays pending and the sweeper starts another (documents.services.MAX_ATTEMPTS bounds the rounds).
MAX_RETRIES = 8
RETRY_BACKOFF = settings.DOCUMENTS_RETRY_BACKOFF
RETRY_BACKOFF_MAX = settings.DOCUMENTS_RETRY_BACKOFF_MAX


def _reason(exc: BaseException) -> str:
    # The exception's type only: its message may quote patient data.
    return type(exc).__name__


class DocumentTask(Task):
    def on_retry(self, exc, task_id, args, kwargs, einfo) -> None:
        services.document_note_transient_failure(_document_id(args, kwargs), f"Will try again ({_reason(exc)}).")

    def on_failure(self, exc, task_id, args, kwargs, einfo) -> None:
        # Called once, after the last retry, or at once for an error that is not transient.
        document_id = _document_id(args, kwargs)
        # The hard time limit, too, may be a busy machine rather than the document: the sweeper tries it again
        # (MAX_ATTEMPTS stops one that always overruns).
        if isinstance(exc, (*TRANSIENT_ERRORS, TimeLimitExceeded)):
            services.document_note_transient_failure(document_id, f"Waiting to try again ({_reason(exc)}).")
            return
        tries = self.request.retries + 1
        services.document_mark_failed(document_id, f"Rendering failed after {tries} tries ({_reason(exc)}).")


def _document_id(args, kwargs) -> int:
    return args[0] if args else kwargs["document_id"]


@shared_task(
    base=DocumentTask,
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=SOFT_TIME_LIMIT,
    time_limit=HARD_TIME_LIMIT,
    autoretry_for=TRANSIENT_ERRORS,
    retry_backoff=RETRY_BACKOFF,
    retry_backoff_max=RETRY_BACKOFF_MAX,
    retry_jitter=True,
    max_retries=MAX_RETRIES,
)
def render_document(document_id: int) -> None:
    services.document_build(document_id)


@shared_task(acks_late=True, soft_time_limit=30, time_limit=60)
def render_pending(patient_id: int) -> None:
    """After a change to the patient's appointments: render what it left pending (a new aftercare sheet)."""
    services.documents_send_pending(patient_id=patient_id)


@shared_task(acks_late=True, soft_time_limit=60, time_limit=90)
def sweep_pending_documents(stale_after_seconds: int | None = None) -> None:
    """Periodic (celery beat): re-enqueue documents left pending, e.g. after a Redis flush or a killed worker."""
    services.documents_sweep(older_than=None if stale_after_seconds is None else timedelta(seconds=stale_after_seconds))


@shared_task(acks_late=True, soft_time_limit=240, time_limit=300)
def verify_stored_documents() -> None:
    """Periodic (celery beat): check a batch of stored files against their checksums; rebuild what fails."""
    services.documents_verify()


@shared_task
def send_ready_email(ready_email_id: int) -> None:
    """Kept for messages queued before owed emails moved to pit_portal.outbox: its rows moved there with it
    (migration outbox 0002), and the outbox sweeper sends those still owed. Nothing to do here."""


@shared_task
def send_document_ready_email(document_id: int) -> None:
    """Kept for messages queued, by document id, before the email was owed once per visit."""
    notifications.document_ready_email_send(document_id)


@worker_process_init.connect
def warm_up_renderer(**kwargs) -> None:
    """Each pool process loads fonts and CSS once, before its first task, not during a patient's render."""
    from documents import render  # WeasyPrint stays out of web processes that only enqueue tasks

    try:
        render.warm_up()
    except Exception:
        # A failed warm-up only costs speed; the first real render will try again and report properly.
        logger.exception("PDF renderer warm-up failed")
