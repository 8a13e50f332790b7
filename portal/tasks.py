"""Portal emails and patients' copies of their record, done by the worker. Messages carry ids only: tokens, names
and addresses never sit on the broker."""

from datetime import timedelta

from celery import Task, shared_task

from pit_portal import jobs
from portal import services
from portal.record_copy import services as record_copy
from scheduling.tasks import EMAIL_TASK_OPTIONS


@shared_task(**EMAIL_TASK_OPTIONS)
def send_invite(invite_id: int) -> bool:
    # The token is made here, in the worker; a retry makes a new one, and only the newest link works.
    return services.invite_send(invite_id)


@shared_task(**EMAIL_TASK_OPTIONS)
def tell_front_desk_of_cancellation(appointment_id: int) -> bool:
    return services.front_desk_cancellation_send(appointment_id)


# Patients' copies of their record (portal.record_copy). Soft < hard < the stale threshold
# (RECORD_COPY_STALE_AFTER_SECONDS), so a run still building is never taken for a lost one; hard < the broker's
# visibility timeout. Failures that may clear by themselves (pit_portal.jobs.TRANSIENT_ERRORS) are tried again by
# Celery, then by the sweeper.
COPY_SOFT_TIME_LIMIT = 240
COPY_HARD_TIME_LIMIT = 300


class RecordCopyTask(Task):
    def on_failure(self, exc, task_id, args, kwargs, einfo) -> None:
        copy_id = args[0] if args else kwargs["copy_id"]
        jobs.task_failed(exc, copy_id, record_copy.copy_mark_failed, "Preparing the copy failed ({}).")


@shared_task(
    base=RecordCopyTask,
    soft_time_limit=COPY_SOFT_TIME_LIMIT,
    time_limit=COPY_HARD_TIME_LIMIT,
    autoretry_for=jobs.TRANSIENT_ERRORS,
    **jobs.TASK_OPTIONS,
)
def build_record_copy(copy_id: int) -> None:
    record_copy.copy_build(copy_id)


@shared_task(acks_late=True, soft_time_limit=60, time_limit=90)
def sweep_record_copies(stale_after_seconds: int | None = None) -> dict[str, list[int]]:
    """Periodic (celery beat): send again the copies a lost message or a killed worker left unfinished; delete the
    files of expired ones."""
    older_than = None if stale_after_seconds is None else timedelta(seconds=stale_after_seconds)
    return record_copy.copies_sweep(older_than=older_than)
