"""Reminders through the real broker and a real worker process: duplicates on the queue still send one email."""

import re
from pathlib import Path

import pytest

from pit_portal.outbox.models import EmailKind, EmailStatus, OutboxEmail
from scheduling.models import AppointmentStatus, ReminderSent
from scheduling.tasks import send_appointment_reminder, send_due_reminders
from tests.scheduling.test_reminders import calendar_in, make_appointment, parsed, tomorrow_at

pytestmark = pytest.mark.worker

SENT_EMAIL = re.compile(r"Task pit_portal\.outbox\.tasks\.send_email\[[0-9a-f-]+\] succeeded in \S+: (\S+)")
SUCCEEDED = re.compile(r"Task scheduling\.tasks\.(\w+)\[([0-9a-f-]+)\] succeeded in \S+: (\S+)")


def succeeded(log: Path) -> list[tuple[str, str, str]]:
    """(task name, task id, return value) for each task the worker finished, from its log."""
    return SUCCEEDED.findall(log.read_text(errors="replace"))


def test_beat_twice_and_duplicate_messages_send_one_reminder_and_none_when_cancelled(
    celery_worker_process, wait_for, settings
):
    settings.REMINDER_SEND_HOUR = 0  # for the ticks run in this process; the worker keeps its own setting
    booked = make_appointment(tomorrow_at(10))
    cancelled = make_appointment(tomorrow_at(11), status=AppointmentStatus.CANCELLED)
    log = celery_worker_process.log

    # Two beat ticks run here: each puts a reminder message on the broker for the worker.
    queued_here = sum(send_due_reminders.apply().result for _ in range(2))
    # Two ticks run by the worker itself. Whether they find anything due depends on the worker's clock and its
    # send hour (10:00 unless configured), so how many reminders they queue is read from the log.
    tick_ids = {send_due_reminders.delay().id for _ in range(2)}
    # And the reminder task enqueued directly, twice, as a double click or a redelivery would.
    send_appointment_reminder.delay(booked.pk)
    send_appointment_reminder.delay(booked.pk)
    send_appointment_reminder.delay(cancelled.pk)

    def ticks_done() -> bool:
        return tick_ids <= {task_id for name, task_id, _ in succeeded(log) if name == "send_due_reminders"}

    wait_for(ticks_done, timeout=30, what="the worker's beat ticks", log=log)

    # The ticks owe the booked appointment's reminder once (pit_portal.outbox); whichever of its send and the
    # three direct messages runs first sends the email, and every other finds the reminder claimed.
    def settled() -> bool:
        direct = [result for name, _, result in succeeded(log) if name == "send_appointment_reminder"]
        owed = OutboxEmail.objects.filter(kind=EmailKind.REMINDER, object_id=booked.pk)
        return len(direct) == 3 and owed.exclude(status=EmailStatus.PENDING).count() == 1

    wait_for(settled, timeout=30, what="the reminder to be settled", log=log)

    assert queued_here >= 1
    assert not OutboxEmail.objects.filter(object_id=cancelled.pk).exclude(status=EmailStatus.NOT_SENT).exists()
    sends = [result for name, _, result in succeeded(log) if name == "send_appointment_reminder"]
    sends += SENT_EMAIL.findall(log.read_text(errors="replace"))
    assert sorted(sends).count("True") == 1
    [email_file] = list(celery_worker_process.mail_dir.iterdir())
    message = parsed(email_file.read_bytes())
    assert message["To"] == booked.patient.email
    assert calendar_in(message).events[0].start == booked.starts_at
    assert ReminderSent.objects.filter(appointment=booked, starts_at=booked.starts_at).count() == 1
    assert not ReminderSent.objects.filter(appointment=cancelled).exists()
