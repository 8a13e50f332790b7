"""Background work for documents. Tasks are thin: ids in, a service call inside, nothing else on the broker."""

import logging
from datetime import timedelta
from smtplib import SMTPException

from celery import Task, shared_task
from celery.signals import worker_process_init

from documents import notifications, services

logger = logging.getLogger(__name__)

# Soft < hard < the broker's visibility timeout (3600 s in settings), so a slow render is stopped, and its
# message handed out again, before Redis would re-deliver it to a second worker on its own.
SOFT_TIME_LIMIT = 45
HARD_TIME_LIMIT = 60
MAX_RETRIES = 4  # five tries in all, about a minute apart at most, before the document is marked failed
RETRY_BACKOFF_MAX = 60
# Rendering errors are retried too: most are transient (a database blip, a full disk, a slow render killed
# by the soft limit), and the retries are bounded; a deterministic bug ends as FAILED with a Retry button.
# SoftTimeLimitExceeded, DatabaseError and OSError are all Exceptions; named here for the reader.
RETRY_FOR = (Exception,)


class DocumentTask(Task):
    def on_failure(self, exc, task_id, args, kwargs, einfo) -> None:
        # Called once, after the last retry. The exception's type only: its message may quote patient data.
        document_id = args[0] if args else kwargs.get("document_id")
        tries = self.request.retries + 1
        services.document_mark_failed(document_id, f"Rendering failed after {tries} tries ({type(exc).__name__}).")


@shared_task(
    base=DocumentTask,
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=SOFT_TIME_LIMIT,
    time_limit=HARD_TIME_LIMIT,
    autoretry_for=RETRY_FOR,
    retry_backoff=True,
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
    """Periodic (celery beat): re-enqueue documents left pending, and ready emails still owed, e.g. after a Redis
    flush or a killed worker."""
    older_than = services.STALE_AFTER if stale_after_seconds is None else timedelta(seconds=stale_after_seconds)
    services.documents_sweep(older_than=older_than)
    services.ready_emails_sweep(older_than=older_than)


EMAIL_RETRY = {
    "autoretry_for": (SMTPException, ConnectionError, TimeoutError),
    "retry_backoff": True,
    "retry_jitter": True,
    "max_retries": 5,
}


@shared_task(**EMAIL_RETRY)
def send_ready_email(ready_email_id: int) -> None:
    notifications.ready_email_send(ready_email_id)


@shared_task(**EMAIL_RETRY)
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
