import os

from celery import Celery
from celery.schedules import crontab

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pit_portal.settings")

app = Celery("pit_portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Every quarter hour rather than once a day: an appointment booked this afternoon for tomorrow still gets its
# reminder, and a beat or worker that was down at the send hour catches up. Repeats send nothing twice.
app.conf.beat_schedule = {
    "send-due-appointment-reminders": {
        "task": "scheduling.tasks.send_due_reminders",
        "schedule": crontab(minute="*/15"),
        # A tick still queued when the next one is due is redundant; drop it instead of piling up.
        "options": {"expires": 14 * 60},
    },
    # The database is the source of truth for pending documents: re-send any left pending too long.
    "sweep-pending-documents": {
        "task": "documents.tasks.sweep_pending_documents",
        "schedule": crontab(minute="*/5"),
        "options": {"expires": 4 * 60},
    },
}
