import os
from datetime import timedelta

from celery import Celery
from celery.schedules import crontab
from celery.signals import task_postrun, task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pit_portal.settings")

app = Celery("pit_portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

from django.conf import settings  # noqa: E402 (read after DJANGO_SETTINGS_MODULE is set)

# Every quarter hour rather than once a day: an appointment booked this afternoon for tomorrow still gets its
# reminder, and a beat or worker that was down at the send hour catches up. Repeats send nothing twice.
app.conf.beat_schedule = {
    "send-due-appointment-reminders": {
        "task": "scheduling.tasks.send_due_reminders",
        "schedule": crontab(minute="*/15"),
        # A tick still queued when the next one is due is redundant; drop it instead of piling up.
        "options": {"expires": 14 * 60},
    },
    # The database is the source of truth for pending documents: re-send any a lost message or a killed worker
    # left, within a couple of minutes (settings.DOCUMENTS_STALE_AFTER_SECONDS + DOCUMENTS_SWEEP_SECONDS).
    "sweep-pending-documents": {
        "task": "documents.tasks.sweep_pending_documents",
        "schedule": timedelta(seconds=settings.DOCUMENTS_SWEEP_SECONDS),
        "options": {"expires": settings.DOCUMENTS_SWEEP_SECONDS},
    },
    # The database is the source of truth for emails owed: re-send any a lost message left unsent.
    "sweep-outbox": {
        "task": "pit_portal.outbox.tasks.sweep_outbox",
        "schedule": timedelta(seconds=settings.OUTBOX_SWEEP_SECONDS),
        "options": {"expires": settings.OUTBOX_SWEEP_SECONDS},
    },
    # Every stored PDF is read back in turn; a damaged or missing one is rebuilt before anyone needs it.
    "verify-stored-documents": {
        "task": "documents.tasks.verify_stored_documents",
        "schedule": crontab(minute=40),
        "options": {"expires": 50 * 60},
    },
    # The audit chain's head, outside the database: events cut from its end are named by `audit_verify`.
    "record-audit-chain-head": {
        "task": "audit.tasks.record_chain_head",
        "schedule": crontab(minute="*/5"),
        "options": {"expires": 4 * 60},
    },
}


# Change history: every write a task makes is attributed to the task, by name and id. Never its
# arguments: they are ids today, but the history context must stay free of patient data whatever
# a task is given.
_history_contexts: dict[str, object] = {}


@task_prerun.connect
def enter_history_context(task_id=None, task=None, **kwargs) -> None:
    import pghistory
    from pghistory.runtime import _tracker

    # A task run eagerly inside a web request (tests, CELERY_TASK_ALWAYS_EAGER) writes on the request's
    # behalf: keep the request's user and URL rather than merge task keys into the request's context.
    if hasattr(_tracker, "value"):
        return
    context = pghistory.context(task=task.name, task_id=task_id)
    context.__enter__()
    _history_contexts[task_id] = context


@task_postrun.connect
def leave_history_context(task_id=None, **kwargs) -> None:
    # Sent even when the task failed, after its on_failure handler: nothing outlives the task.
    context = _history_contexts.pop(task_id, None)
    if context is not None:
        context.__exit__(None, None, None)
