"""Appointment emails, sent by the worker. Messages carry ids only: names and addresses never sit on the broker."""

from smtplib import SMTPException

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded

from scheduling import notifications

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
    """Run by beat every quarter hour: queue one reminder task per due appointment; returns how many.

    Running twice, or alongside a slow earlier run, is harmless: each reminder task sends at most once.
    """
    appointment_ids = notifications.due_reminder_ids()
    for appointment_id in appointment_ids:
        send_appointment_reminder.delay(appointment_id)
    return len(appointment_ids)


@shared_task(**EMAIL_TASK_OPTIONS)
def send_appointment_reminder(appointment_id: int) -> bool:
    return notifications.send_reminder(appointment_id)


@shared_task(**EMAIL_TASK_OPTIONS)
def send_appointment_notice(appointment_id: int, kind: str) -> bool:
    """kind is "rescheduled" or "cancelled" (scheduling.services enqueues it after the change commits)."""
    return notifications.send_notice(appointment_id, kind)
