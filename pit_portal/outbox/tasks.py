"""Sending owed emails. Thin tasks: the row's id in, outbox.services inside; nothing else sits on the broker."""

from smtplib import SMTPException

from celery import Task, shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import InterfaceError, OperationalError

from pit_portal.outbox import services

# The mail server or the network down (OSError covers socket errors), the database restarting, a slow server.
TRANSIENT_ERRORS = (SMTPException, OSError, OperationalError, InterfaceError, SoftTimeLimitExceeded)


class OutboxTask(Task):
    def on_retry(self, exc, task_id, args, kwargs, einfo) -> None:
        services.email_note_failure(args[0], f"Will try again ({type(exc).__name__}).")

    def on_failure(self, exc, task_id, args, kwargs, einfo) -> None:
        # The exception's type only: its message may quote an address.
        if isinstance(exc, TRANSIENT_ERRORS):
            services.email_note_failure(args[0], f"Waiting for the sweeper ({type(exc).__name__}).")
        else:
            services.email_mark_failed(args[0], f"Could not be sent ({type(exc).__name__}).")


# Retries as the documents' (documents.tasks): full-jitter waits capped at 1, 2, 4, 8 then 15 minutes span about
# 37 minutes on average; a spent round is picked up again by the sweeper.
@shared_task(
    base=OutboxTask,
    acks_late=True,
    autoretry_for=TRANSIENT_ERRORS,
    retry_backoff=settings.OUTBOX_RETRY_BACKOFF,
    retry_backoff_max=settings.OUTBOX_RETRY_BACKOFF_MAX,
    retry_jitter=True,
    max_retries=8,
    soft_time_limit=30,
    time_limit=45,
)
def send_email(outbox_id: int) -> bool:
    return services.email_send(outbox_id)


@shared_task(acks_late=True, soft_time_limit=50, time_limit=60)
def sweep_outbox() -> None:
    """Periodic (celery beat): send again what a lost broker message or a killed worker left unsent."""
    services.emails_sweep()
