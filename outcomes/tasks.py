"""Between-visit questions and registry exports, done by the worker; messages carry ids, or nothing but what beat
needs to run."""

from datetime import timedelta

from celery import Task, shared_task

from outcomes import services
from outcomes.registry import services as registry
from pit_portal import jobs


@shared_task(soft_time_limit=60, time_limit=90)
def send_due_measure_requests() -> dict[str, int]:
    """Run by beat every quarter hour: make the pre-session requests of appointments now coming up, then owe the
    first email of every due request and the one reminder of every request left unanswered. Running twice, or
    beside a slow earlier run, makes and owes each once."""
    made = services.before_session_requests_make()
    first, reminders = services.due_requests_owe()
    return {"made": made, "emails": first, "reminders": reminders}


# Registry exports (outcomes.registry). Soft < hard < the stale threshold (REGISTRY_EXPORT_STALE_AFTER_SECONDS), so
# a run still building is never taken for a lost one; hard < the broker's visibility timeout. Failures that may
# clear by themselves (pit_portal.jobs.TRANSIENT_ERRORS) are tried again by Celery, then by the sweeper.
EXPORT_SOFT_TIME_LIMIT = 540
EXPORT_HARD_TIME_LIMIT = 600


class RegistryExportTask(Task):
    def on_failure(self, exc, task_id, args, kwargs, einfo) -> None:
        export_id = args[0] if args else kwargs["export_id"]
        jobs.task_failed(exc, export_id, registry.export_mark_failed, "Preparing the export failed ({}).")


@shared_task(
    base=RegistryExportTask,
    soft_time_limit=EXPORT_SOFT_TIME_LIMIT,
    time_limit=EXPORT_HARD_TIME_LIMIT,
    autoretry_for=jobs.TRANSIENT_ERRORS,
    **jobs.TASK_OPTIONS,
)
def build_registry_export(export_id: int) -> None:
    registry.export_build(export_id)


@shared_task(acks_late=True, soft_time_limit=60, time_limit=90)
def sweep_registry_exports(stale_after_seconds: int | None = None) -> list[int]:
    """Periodic (celery beat): send again the exports a lost message or a killed worker left unfinished."""
    older_than = None if stale_after_seconds is None else timedelta(seconds=stale_after_seconds)
    return registry.exports_sweep(older_than=older_than)
