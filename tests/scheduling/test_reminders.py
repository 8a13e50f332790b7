"""Day-before reminders and rescheduled / cancelled notices: who gets one, once, and what it may say."""

import email
import threading
import time as clock
from datetime import UTC, date, datetime, time, timedelta
from email import policy
from smtplib import SMTPException

import pytest
from django.core import mail
from django.core.mail.backends.locmem import EmailBackend
from django.db import connection
from django.utils import timezone
from icalendar import Calendar

from accounts.models import Role
from scheduling import notifications
from scheduling.models import Appointment, AppointmentStatus, AppointmentType, ReminderSent
from scheduling.services import appointment_cancel
from scheduling.tasks import send_appointment_notice, send_appointment_reminder, send_due_reminders
from tests.factories import CourseFactory, PatientFactory, UserFactory

CLINIC = {
    "CLINIC_NAME": "Harbour Clinic",
    "CLINIC_PHONE": "020 7946 0000",
    "CLINIC_ADDRESS": "1 Quay Street, Bristol",
    "CLINIC_EMAIL": "",
    "SITE_URL": "https://portal.example.org",
    "TIME_ZONE": "Europe/London",
}


# --- Helpers, shared with the worker test --------------------------------------------------------------------


def appointment_type() -> AppointmentType:
    """The data migration's type; a transactional test's flush removes it, so make it again if need be."""
    kind, _ = AppointmentType.objects.get_or_create(
        code="pit-session", defaults={"name": "PIT session", "duration_minutes": 20}
    )
    return kind


def make_appointment(starts_at: datetime, *, status: str = AppointmentStatus.BOOKED, **fields) -> Appointment:
    """Straight into the table: booking rules (working hours, the past) are not what these tests are about."""
    kind = appointment_type()
    clinician = UserFactory(role=Role.CLINICIAN)
    fields.setdefault("patient", PatientFactory())
    return Appointment.objects.create(
        clinician=clinician,
        appointment_type=kind,
        starts_at=starts_at,
        ends_at=starts_at + timedelta(minutes=kind.duration_minutes),
        status=status,
        cancel_reason="Asked to cancel" if status == AppointmentStatus.CANCELLED else "",
        created_by=clinician,
        **fields,
    )


def local(day: date, hour: int, minute: int = 0) -> datetime:
    return timezone.make_aware(datetime.combine(day, time(hour, minute)))


def tomorrow_at(hour: int, minute: int = 0) -> datetime:
    return local(timezone.localdate() + timedelta(days=1), hour, minute)


def parsed(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=policy.default)


def calendar_part(message: email.message.EmailMessage) -> email.message.EmailMessage:
    [part] = [part for part in message.walk() if part.get_content_type() == "text/calendar"]
    return part


def calendar_in(message: email.message.EmailMessage) -> Calendar:
    return Calendar.from_ical(calendar_part(message).get_content())


def readable_text(message: email.message.EmailMessage) -> str:
    """Everything a person could read: subject, body and the decoded calendar file."""
    body = message.get_body(preferencelist=("plain",)).get_content()
    return "\n".join([message["Subject"], body, calendar_part(message).get_content()])


def sent(index: int = 0) -> email.message.EmailMessage:
    return parsed(mail.outbox[index].message().as_bytes())


# --- Fixtures --------------------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def clinic(settings) -> None:
    for name, value in CLINIC.items():
        setattr(settings, name, value)
    # Always past the send hour, whenever the suite runs; the hour itself has its own test.
    settings.REMINDER_SEND_HOUR = 0


@pytest.fixture
def eager():
    """Tasks run in this process when enqueued, failures raised, as the worker would run them."""
    from pit_portal.celery import app

    previous = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager = app.conf.task_eager_propagates = True
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = previous


# --- Which appointments are due -------------------------------------------------------------------------------


def test_only_booked_appointments_starting_tomorrow_are_due(db):
    today = timezone.localdate()
    first_minute = make_appointment(local(today + timedelta(days=1), 0, 0))
    last_slot = make_appointment(local(today + timedelta(days=1), 23, 40))
    make_appointment(local(today, 23, 40))
    make_appointment(local(today + timedelta(days=2), 0, 0))
    make_appointment(tomorrow_at(9), status=AppointmentStatus.CANCELLED)
    make_appointment(tomorrow_at(11), status=AppointmentStatus.NO_SHOW)
    make_appointment(tomorrow_at(12), patient=PatientFactory(email=""))

    assert notifications.due_reminder_ids() == [first_minute.pk, last_slot.pk]


def test_nothing_is_due_before_the_send_hour(db, settings):
    settings.REMINDER_SEND_HOUR = 10
    today = timezone.localdate()
    appointment = make_appointment(tomorrow_at(9))

    assert notifications.due_reminder_ids(now=local(today, 9, 59)) == []
    assert notifications.due_reminder_ids(now=local(today, 10, 0)) == [appointment.pk]


def test_the_send_hour_defaults_to_ten(settings):
    del settings.REMINDER_SEND_HOUR
    assert notifications.reminder_send_hour() == 10


@pytest.mark.parametrize(
    ("change_day", "expected_hours"),
    [(date(2025, 3, 30), 23), (date(2025, 10, 26), 25)],
    ids=["clocks-forward", "clocks-back"],
)
def test_tomorrow_is_a_whole_local_day_across_a_clock_change(db, change_day, expected_hours):
    # Asked the evening before the change, "tomorrow" is the short (or long) day itself.
    now = local(change_day - timedelta(days=1), 18)
    inside = [make_appointment(local(change_day, 0, 10)), make_appointment(local(change_day, 23, 30))]
    make_appointment(local(change_day - timedelta(days=1), 23, 30))
    make_appointment(local(change_day + timedelta(days=1), 0, 10))

    start, end = notifications._tomorrow(now)
    # In UTC: Python subtracts datetimes sharing a zone by their wall clocks.
    assert end.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=expected_hours)
    assert notifications.due_reminder_ids(now=now) == [a.pk for a in inside]


# --- Sending once -------------------------------------------------------------------------------------------------


def test_one_reminder_however_often_beat_and_the_task_run(db, eager):
    appointment = make_appointment(tomorrow_at(10))

    send_due_reminders.delay()
    send_due_reminders.delay()
    send_appointment_reminder.delay(appointment.pk)
    send_appointment_reminder.delay(appointment.pk)

    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [appointment.patient.email]
    assert ReminderSent.objects.filter(appointment=appointment, starts_at=appointment.starts_at).count() == 1
    assert notifications.due_reminder_ids() == []


def test_a_failed_send_releases_its_claim_and_the_retry_sends(db, monkeypatch):
    appointment = make_appointment(tomorrow_at(10))
    real_send = EmailBackend.send_messages
    attempts = []

    def refuse_once(backend, messages):
        attempts.append(len(messages))
        if len(attempts) == 1:
            raise SMTPException("421 try again later")
        return real_send(backend, messages)

    monkeypatch.setattr(EmailBackend, "send_messages", refuse_once)

    # Run here; autoretry then runs the retry at once (eager retries skip the countdown).
    result = send_appointment_reminder.apply(args=[appointment.pk], throw=False)

    assert result.successful() and result.result is True
    assert len(attempts) == 2
    assert len(mail.outbox) == 1
    assert ReminderSent.objects.filter(appointment=appointment).count() == 1


def test_the_claim_is_rolled_back_when_sending_fails(db, monkeypatch):
    appointment = make_appointment(tomorrow_at(10))

    def refuse(backend, messages):
        raise ConnectionRefusedError

    monkeypatch.setattr(EmailBackend, "send_messages", refuse)
    with pytest.raises(ConnectionRefusedError):
        notifications.send_reminder(appointment.pk)

    assert not ReminderSent.objects.exists()
    assert notifications.due_reminder_ids() == [appointment.pk]


def test_two_workers_at_once_send_one_reminder(transactional_db, monkeypatch):
    """Two processes picking up duplicate messages together: the second waits for the first, then finds its claim."""
    appointment = make_appointment(tomorrow_at(10))
    real_send = EmailBackend.send_messages

    def slow_send(backend, messages):
        clock.sleep(0.5)  # long enough for the other thread to reach the lock
        return real_send(backend, messages)

    monkeypatch.setattr(EmailBackend, "send_messages", slow_send)
    results = []

    def worker() -> None:
        try:
            results.append(notifications.send_reminder(appointment.pk))
        finally:
            connection.close()  # each thread has its own connection

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)

    assert sorted(results) == [False, True]
    assert len(mail.outbox) == 1
    assert ReminderSent.objects.filter(appointment=appointment).count() == 1


def test_a_rescheduled_appointment_gets_a_new_reminder(db, eager, django_capture_on_commit_callbacks):
    appointment = make_appointment(tomorrow_at(10))
    with django_capture_on_commit_callbacks(execute=True):  # the owed reminder is sent after its row commits
        send_due_reminders.delay()

    new_start = tomorrow_at(15)
    Appointment.objects.filter(pk=appointment.pk).update(starts_at=new_start, ends_at=new_start + timedelta(minutes=20))
    with django_capture_on_commit_callbacks(execute=True):
        send_due_reminders.delay()
        send_due_reminders.delay()

    assert len(mail.outbox) == 2
    assert calendar_in(sent(1)).events[0].start == new_start
    assert calendar_in(sent(1)).events[0].uid == calendar_in(sent(0)).events[0].uid
    assert set(ReminderSent.objects.values_list("starts_at", flat=True)) == {tomorrow_at(10), new_start}


@pytest.mark.parametrize(
    "status", [AppointmentStatus.CANCELLED, AppointmentStatus.NO_SHOW, AppointmentStatus.COMPLETED]
)
def test_no_reminder_unless_the_appointment_is_still_booked(db, eager, status):
    appointment = make_appointment(tomorrow_at(10), status=status)

    send_due_reminders.delay()
    send_appointment_reminder.delay(appointment.pk)

    assert mail.outbox == []
    assert not ReminderSent.objects.exists()


def test_no_reminder_for_an_appointment_moved_to_next_week_after_it_was_queued(db):
    appointment = make_appointment(tomorrow_at(10))
    next_week = tomorrow_at(10) + timedelta(days=7)
    Appointment.objects.filter(pk=appointment.pk).update(starts_at=next_week, ends_at=next_week + timedelta(hours=1))

    assert notifications.send_reminder(appointment.pk) is False
    assert mail.outbox == []
    assert not ReminderSent.objects.exists()


def test_patients_without_email_get_nothing_and_nothing_breaks(db, eager):
    appointment = make_appointment(tomorrow_at(10), patient=PatientFactory(email=""))

    send_due_reminders.delay()
    send_appointment_reminder.delay(appointment.pk)
    send_appointment_notice.delay(appointment.pk, "rescheduled")

    assert mail.outbox == []
    assert not ReminderSent.objects.exists()


def test_a_deleted_appointment_is_skipped(db, eager):
    send_appointment_reminder.delay(999_999)
    send_appointment_notice.delay(999_999, "cancelled")
    assert mail.outbox == []


# --- What the email says --------------------------------------------------------------------------------------


def test_the_reminder_carries_no_clinical_details(db):
    patient = PatientFactory(given_name="Morwenna", family_name="Tregarthen")
    course = CourseFactory(patient=patient)
    appointment = make_appointment(
        tomorrow_at(10, 30),
        patient=patient,
        course=course,
        notes="Worse after the last injection; query diabetic neuropathy.",
    )
    notifications.send_reminder(appointment.pk)

    text = readable_text(sent())
    clinical = [
        course.condition.name,
        appointment.notes,
        "neuropathy",
        appointment.appointment_type.name,
        "injection",
        "perineural",
        "dextrose",
        "Tregarthen",  # the first name is enough to greet them
    ]
    assert [word for word in clinical if word.lower() in text.lower()] == []
    for expected in ["Dear Morwenna", "at 10:30", "Harbour Clinic", "020 7946 0000", "1 Quay Street, Bristol"]:
        assert expected in text
    assert "call us on 020 7946 0000" in text
    body = sent().get_body(preferencelist=("plain",)).get_content()
    assert body.rstrip().endswith("Harbour Clinic\n020 7946 0000\n1 Quay Street, Bristol")  # the sign-off


def test_the_reminder_has_a_calendar_invitation(db):
    appointment = make_appointment(tomorrow_at(10))
    notifications.send_reminder(appointment.pk)

    message = sent()
    assert calendar_part(message).get_param("method") == "REQUEST"
    assert calendar_part(message).get_filename() == "appointment.ics"
    calendar = calendar_in(message)
    assert calendar.method == "REQUEST"
    [event] = calendar.events
    assert event.start == appointment.starts_at
    assert event.end == appointment.ends_at
    assert event.start.tzinfo is not None and event.start.utcoffset() == timedelta(0)
    assert event.uid == f"appointment-{appointment.pk}@portal.example.org"
    assert event["SUMMARY"] == "Appointment at Harbour Clinic"
    assert event["LOCATION"] == "1 Quay Street, Bristol"
    assert event["STATUS"] == "CONFIRMED"


@pytest.mark.parametrize(
    ("day", "utc_hour"),
    [(date(2025, 3, 31), 9), (date(2025, 10, 27), 10)],
    ids=["after-clocks-forward", "after-clocks-back"],
)
def test_an_appointment_the_day_after_a_clock_change_is_at_the_right_instant(db, day, utc_hour):
    appointment = make_appointment(local(day, 10))
    # The evening before, when the reminder would go out.
    notifications.send_reminder(appointment.pk, now=local(day - timedelta(days=1), 18))

    message = sent()
    assert calendar_in(message).events[0].start == datetime(day.year, day.month, day.day, utc_hour, tzinfo=UTC)
    assert f"DTSTART:{day:%Y%m%d}T{utc_hour:02d}0000Z" in calendar_part(message).get_content()
    assert "at 10:00" in message["Subject"]


# --- Rescheduled and cancelled notices ----------------------------------------------------------------------


def test_the_cancellation_notice_withdraws_the_calendar_event(
    db, eager, front_desk, django_capture_on_commit_callbacks
):
    appointment = make_appointment(tomorrow_at(10))
    # Booked five minutes ago, so that the cancellation is a later change.
    Appointment.objects.filter(pk=appointment.pk).update(
        created_at=appointment.created_at - timedelta(minutes=5),
        updated_at=appointment.updated_at - timedelta(minutes=5),
    )
    notifications.send_reminder(appointment.pk)
    invitation = calendar_in(sent(0)).events[0]

    with django_capture_on_commit_callbacks(execute=True):
        appointment_cancel(appointment=appointment, reason="Unwell after last injection", by=front_desk)

    assert len(mail.outbox) == 2
    message = sent(1)
    assert "cancelled" in message["Subject"]
    assert "injection" not in readable_text(message).lower()
    assert calendar_part(message).get_param("method") == "CANCEL"
    calendar = calendar_in(message)
    assert calendar.method == "CANCEL"
    [event] = calendar.events
    assert event["STATUS"] == "CANCELLED"
    assert event.uid == invitation.uid
    assert event.sequence > invitation.sequence


def test_the_rescheduled_notice_updates_the_same_event(db, eager):
    appointment = make_appointment(tomorrow_at(10))
    notifications.send_reminder(appointment.pk)
    invitation = calendar_in(sent(0)).events[0]

    # Moved five minutes later at the desk (scheduling.services saves the row and enqueues the notice).
    new_start = tomorrow_at(16)
    Appointment.objects.filter(pk=appointment.pk).update(
        starts_at=new_start,
        ends_at=new_start + timedelta(minutes=20),
        updated_at=appointment.updated_at + timedelta(minutes=5),
    )
    send_appointment_notice.delay(appointment.pk, "rescheduled")

    message = sent(1)
    assert "moved" in message["Subject"]
    assert "at 16:00" in readable_text(message)
    calendar = calendar_in(message)
    assert calendar.method == "REQUEST"
    [event] = calendar.events
    assert event.uid == invitation.uid
    assert event.start == new_start
    assert event.sequence > invitation.sequence


def test_a_rescheduled_notice_for_an_appointment_since_cancelled_is_not_sent(db, eager):
    appointment = make_appointment(tomorrow_at(10), status=AppointmentStatus.CANCELLED)
    send_appointment_notice.delay(appointment.pk, "rescheduled")
    assert mail.outbox == []


def test_beat_runs_the_periodic_task():
    from pit_portal.celery import app

    [entry] = [e for e in app.conf.beat_schedule.values() if e["task"] == send_due_reminders.name]
    assert entry["task"] == "scheduling.tasks.send_due_reminders"
