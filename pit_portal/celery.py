import os
from typing import TYPE_CHECKING

from celery import Celery
from celery.signals import task_postrun, task_prerun

if TYPE_CHECKING:
    import pghistory

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pit_portal.settings")

app = Celery("pit_portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


# Change history: every write a task makes is attributed to the task, by name and id. Never its
# arguments: they are ids today, but the history context must stay free of patient data whatever
# a task is given.
_history_contexts: "dict[str, pghistory.context]" = {}


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
