"""CSV imports done by the worker (imports.services); messages carry the import's id only."""

from datetime import timedelta

from celery import Task, shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.db import InterfaceError, OperationalError

from imports import services
from pit_portal import jobs

# Soft < hard < the stale threshold (IMPORTS_STALE_AFTER_SECONDS): a run still working is never taken for a lost
# one; hard < the broker's visibility timeout.
SOFT_TIME_LIMIT = 540
HARD_TIME_LIMIT = 600
# Failures that may clear by themselves: the database restarting, a slow machine hitting the soft limit. The run
# kept nothing and has let go of the import; Celery tries again, and once its retries are spent the sweeper does.
TRANSIENT_ERRORS = (OperationalError, InterfaceError, SoftTimeLimitExceeded)


class ImportTask(Task):
    def on_failure(self, exc, task_id, args, kwargs, einfo) -> None:
        import_id = args[0] if args else kwargs["import_id"]
        stopped = "The import stopped ({}); nothing was imported."
        jobs.task_failed(exc, import_id, services.import_mark_failed, stopped, transient=TRANSIENT_ERRORS)


@shared_task(
    base=ImportTask,
    soft_time_limit=SOFT_TIME_LIMIT,
    time_limit=HARD_TIME_LIMIT,
    autoretry_for=TRANSIENT_ERRORS,
    **jobs.TASK_OPTIONS,
)
def run_import(import_id: int) -> None:
    services.import_run(import_id)


@shared_task(acks_late=True, soft_time_limit=60, time_limit=90)
def sweep_imports(stale_after_seconds: int | None = None) -> list[int]:
    """Periodic (celery beat): send again the imports a lost message or a killed worker left unfinished."""
    older_than = None if stale_after_seconds is None else timedelta(seconds=stale_after_seconds)
    return services.imports_sweep(older_than=older_than)
