"""Between-visit questions and registry exports, done by the worker; messages carry ids, or nothing but what beat
needs to run."""

from datetime import timedelta

from celery import Task, shared_task
from celery.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded
from django.db import InterfaceError, OperationalError

from outcomes import services
from outcomes.registry import services as registry


@shared_task(soft_time_limit=60, time_limit=90)
def send_due_measure_requests() -> dict[str, int]:
    """Run by beat every quarter hour: make the pre-session requests of appointments now coming up, then owe the
    first email of every due request and the one reminder of every request left unanswered. Running twice, or
    beside a slow earlier run, makes and owes each once."""
    made = services.before_session_requests_make()
    first, reminders = services.due_requests_owe()
    return {"made": made, "emails": first, "reminders": reminders}


# Registry exports (outcomes.registry). Soft < hard < the stale threshold (REGISTRY_EXPORT_STALE_AFTER_SECONDS), so
# a run still building is never taken for a lost one; hard < the broker's visibility timeout.
EXPORT_SOFT_TIME_LIMIT = 540
EXPORT_HARD_TIME_LIMIT = 600
# Failures that may clear by themselves: the store or the network (OSError, which a store that did not answer,
# documents.storage.StorageUnavailable, is), the database restarting, a slow machine hitting the soft limit. The
# run has let go of the export; Celery tries again, and once its retries are spent the sweeper does.
EXPORT_TRANSIENT_ERRORS = (OSError, OperationalError, InterfaceError, SoftTimeLimitExceeded)


class RegistryExportTask(Task):
    def on_failure(self, exc, task_id, args, kwargs, einfo) -> None:
        # Called once, after the last retry, or at once for an error that will fail the same way every time.
        if isinstance(exc, (*EXPORT_TRANSIENT_ERRORS, TimeLimitExceeded)):
            return  # pending again (or, after the hard limit, claimed until stale): the sweeper sends it again
        export_id = args[0] if args else kwargs["export_id"]
        # The exception's type only: its message may quote data.
        registry.export_mark_failed(export_id, f"Preparing the export failed ({type(exc).__name__}).")


@shared_task(
    base=RegistryExportTask,
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=EXPORT_SOFT_TIME_LIMIT,
    time_limit=EXPORT_HARD_TIME_LIMIT,
    autoretry_for=EXPORT_TRANSIENT_ERRORS,
    retry_backoff=30,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=3,
)
def build_registry_export(export_id: int) -> None:
    registry.export_build(export_id)


@shared_task(acks_late=True, soft_time_limit=60, time_limit=90)
def sweep_registry_exports(stale_after_seconds: int | None = None) -> list[int]:
    """Periodic (celery beat): send again the exports a lost message or a killed worker left unfinished."""
    older_than = None if stale_after_seconds is None else timedelta(seconds=stale_after_seconds)
    return registry.exports_sweep(older_than=older_than)
