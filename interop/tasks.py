"""FHIR bulk exports, done by the worker a slice at a time; messages carry ids, or nothing but what beat needs."""

from datetime import timedelta

from celery import Task, shared_task

from interop.bulk import services
from pit_portal import jobs

# A run writes for FHIR_BULK_SLICE_SECONDS (120 s) and then hands the export on; the limits leave room for the
# chunk in hand and the joining of the files at the end. Hard < the broker's visibility timeout (1200 s). Whether
# a run is alive is told by its claim, moved after every chunk and file (FHIR_BULK_STALE_AFTER_SECONDS), not by
# these limits.
EXPORT_SOFT_TIME_LIMIT = 540
EXPORT_HARD_TIME_LIMIT = 600
# The failures that may clear by themselves are pit_portal.jobs's: the store or the network, the database
# restarting, a slow machine hitting the soft limit. The run has let go of the export (resumed where it stopped);
# Celery tries again, and once its retries are spent the sweeper does.


class BulkExportTask(Task):
    def on_failure(self, exc, task_id, args, kwargs, einfo) -> None:
        export_id = args[0] if args else kwargs["export_id"]
        jobs.task_failed(exc, export_id, services.export_mark_failed, "Preparing the export failed ({}).")


@shared_task(
    base=BulkExportTask,
    soft_time_limit=EXPORT_SOFT_TIME_LIMIT,
    time_limit=EXPORT_HARD_TIME_LIMIT,
    autoretry_for=jobs.TRANSIENT_ERRORS,
    **jobs.TASK_OPTIONS,
)
def build_bulk_export(export_id: int) -> str:
    return services.export_build(export_id).value


@shared_task(acks_late=True, soft_time_limit=60, time_limit=90)
def sweep_bulk_exports(stale_after_seconds: int | None = None) -> list[int]:
    """Periodic (celery beat): send again the exports a lost message or a killed worker left unfinished."""
    older_than = None if stale_after_seconds is None else timedelta(seconds=stale_after_seconds)
    return services.exports_sweep(older_than=older_than)
