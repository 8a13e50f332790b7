"""Appointment emails, sent by the worker. Messages carry ids only: names and addresses never sit on the broker."""

from smtplib import SMTPException

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.db import transaction

from pit_portal.outbox.models import EmailKind
from pit_portal.outbox.services import email_owe
from scheduling import notifications
from scheduling.models import Appointment

# Worth another try later: the mail server or network was down, or slow enough to hit the soft time limit.
# Each send claims its work in a transaction that a failure rolls back, so a retry never doubles up a reminder.
TRANSIENT_ERRORS = (SMTPException, ConnectionError, TimeoutError, SoftTimeLimitExceeded)

EMAIL_TASK_OPTIONS = {
    "autoretry_for": TRANSIENT_ERRORS,
    # Up to 30 s, 1, 2, 4 and 8 min (jitter picks a random delay below each): a mail outage lasts minutes.
    # A reminder that still fails is picked up again by the next beat tick, as no ReminderSent row was kept.
    "retry_backoff": 30,
    "retry_backoff_max": 600,
    "retry_jitter": True,
    "max_retries": 5,
    "soft_time_limit": 30,
    "time_limit": 45,
}


@shared_task(soft_time_limit=60, time_limit=90)
def send_due_reminders() -> int:
    """Run by beat every quarter hour: owe one reminder per due appointment and start time (pit_portal.outbox,
    which sends it); returns how many were due. Running twice, or alongside a slow earlier run, owes each once."""
    appointment_ids = notifications.due_reminder_ids()
    with transaction.atomic():
        due = Appointment.objects.filter(pk__in=appointment_ids).values_list("pk", "starts_at")
        for appointment_id, starts_at in due:
            email_owe(kind=EmailKind.REMINDER, object_id=appointment_id, key=starts_at.isoformat())
    return len(appointment_ids)


# The two below are kept for messages queued before emails were owed through pit_portal.outbox.
@shared_task(**EMAIL_TASK_OPTIONS)
def send_appointment_reminder(appointment_id: int) -> bool:
    return notifications.send_reminder(appointment_id)


@shared_task(**EMAIL_TASK_OPTIONS)
def send_appointment_notice(appointment_id: int, kind: str) -> bool:
    """kind is "rescheduled" or "cancelled" (scheduling.services enqueues it after the change commits)."""
    return notifications.send_notice(appointment_id, kind)
