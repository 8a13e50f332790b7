"""Appointment emails: the day-before reminder and the rescheduled / cancelled notices, each with a calendar file.

An email can be read by anyone who sees the patient's inbox or lock screen, so these messages carry only the
patient's first name, the time and the clinic's contacts: never the condition, the treatment, the appointment
type, a note or a cancellation reason.

The functions here take ids and load fresh rows, because they run in the worker some time after the desk acted.
"""

import logging
from datetime import UTC, datetime, time, timedelta
from email.mime.text import MIMEText
from email.utils import parseaddr
from enum import StrEnum
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.template.loader import render_to_string
from django.utils import timezone
from icalendar import STATUS, Calendar, Event, vCalAddress

from scheduling.models import Appointment, AppointmentStatus, ReminderSent
from scheduling.services import _aware

logger = logging.getLogger(__name__)

DEFAULT_REMINDER_SEND_HOUR = 10
CALENDAR_FILENAME = "appointment.ics"
PRODID = "-//PIT Portal//Appointments//EN"


class NoticeKind(StrEnum):
    RESCHEDULED = "rescheduled"
    CANCELLED = "cancelled"


class CalendarMethod(StrEnum):
    REQUEST = "REQUEST"
    CANCEL = "CANCEL"


# --- Which appointments are due a reminder -------------------------------------------------------------------


def reminder_send_hour() -> int:
    """The local hour from which tomorrow's reminders go out: not at midnight, when a phone would wake."""
    return int(getattr(settings, "REMINDER_SEND_HOUR", DEFAULT_REMINDER_SEND_HOUR))


def _tomorrow(now: datetime) -> tuple[datetime, datetime]:
    """Tomorrow in the clinic's zone, as the aware instants [start, end): 23 or 25 hours next to a clock change."""
    day = timezone.localdate(now) + timedelta(days=1)
    return _aware(day, time.min), _aware(day + timedelta(days=1), time.min)


def due_reminder_ids(now: datetime | None = None) -> list[int]:
    """Booked appointments starting tomorrow whose reminder has not gone out yet, once today's send hour has come.

    Patients without an email address are left out here rather than enqueued for nothing.
    """
    now = now or timezone.now()
    if timezone.localtime(now).hour < reminder_send_hour():
        return []
    start, end = _tomorrow(now)
    already_sent = ReminderSent.objects.filter(appointment=OuterRef("pk"), starts_at=OuterRef("starts_at"))
    due = (
        Appointment.objects.filter(status=AppointmentStatus.BOOKED, starts_at__gte=start, starts_at__lt=end)
        .exclude(patient__email="")
        .exclude(Exists(already_sent))
        .order_by("starts_at", "pk")
    )
    return list(due.values_list("pk", flat=True))


def _still_wants_reminder(appointment: Appointment, now: datetime) -> bool:
    """Checked again in the worker: the appointment may have been cancelled or moved since it was enqueued.

    A message that waited in the queue past midnight still counts ("today" is not too late), but one for an
    appointment moved to next week does not: it would use up that week's reminder now.
    """
    return (
        appointment.status == AppointmentStatus.BOOKED
        and bool(appointment.patient.email)
        and appointment.starts_at > now
        and timezone.localdate(appointment.starts_at) <= timezone.localdate(now) + timedelta(days=1)
    )


def send_reminder(appointment_id: int, now: datetime | None = None) -> bool:
    """Send the day-before reminder, at most once per appointment and start time. Returns whether one went out.

    The ReminderSent row is claimed before sending, in the same transaction as the send: a second task for the
    same appointment finds the row (or waits on its unique key, then finds it) and sends nothing, while a failed
    send rolls the claim back so the retry can send. The appointment row is locked meanwhile, so a cancellation
    at the desk cannot slip in between the check and the email.
    """
    now = now or timezone.now()
    with transaction.atomic():
        appointment = (
            Appointment.objects.select_related("patient").select_for_update(of=("self",)).filter(pk=appointment_id)
        ).first()
        if appointment is None or not _still_wants_reminder(appointment, now):
            return False
        _, claimed = ReminderSent.objects.get_or_create(appointment=appointment, starts_at=appointment.starts_at)
        if not claimed:
            return False
        _send(appointment, "reminder", CalendarMethod.REQUEST)
    logger.info("Sent the reminder for appointment %s", appointment_id)
    return True


# --- Rescheduled and cancelled notices ----------------------------------------------------------------------


def _notice_applies(appointment: Appointment, kind: NoticeKind, now: datetime) -> bool:
    if not appointment.patient.email or appointment.ends_at <= now:
        return False
    if kind == NoticeKind.CANCELLED:
        return appointment.status == AppointmentStatus.CANCELLED
    # Moved and then cancelled before the worker got here: the cancellation notice is the one that matters.
    return appointment.status == AppointmentStatus.BOOKED


def send_notice(appointment_id: int, kind: str, now: datetime | None = None) -> bool:
    """Tell the patient their appointment was moved or cancelled, with a calendar update. Returns whether sent.

    Owed through pit_portal.outbox, one row per change, which makes it once however often its message arrives.
    """
    kind = NoticeKind(kind)
    now = now or timezone.now()
    appointment = Appointment.objects.select_related("patient").filter(pk=appointment_id).first()
    if appointment is None or not _notice_applies(appointment, kind, now):
        return False
    method = CalendarMethod.CANCEL if kind == NoticeKind.CANCELLED else CalendarMethod.REQUEST
    _send(appointment, kind.value, method)
    logger.info("Sent the %s notice for appointment %s", kind, appointment_id)
    return True


def send_rescheduled_notice(appointment_id: int) -> bool:
    return send_notice(appointment_id, NoticeKind.RESCHEDULED)


def send_cancelled_notice(appointment_id: int) -> bool:
    return send_notice(appointment_id, NoticeKind.CANCELLED)


# --- The calendar file ------------------------------------------------------------------------------------------


def appointment_uid(appointment: Appointment) -> str:
    """Stable for the appointment's whole life, so calendars update the same event when it moves or is cancelled."""
    host = urlsplit(settings.SITE_URL).hostname or "localhost"
    return f"appointment-{appointment.pk}@{host}"


def calendar_sequence(appointment: Appointment) -> int:
    """Whole seconds between the appointment's creation and its last change.

    Calendars apply an update only if its SEQUENCE is higher than the one they hold. No field counts the moves,
    but every move or cancellation saves the row and advances updated_at, so this only ever grows. It may jump
    by more than one, which iCalendar allows, and stays within its 32-bit integer for decades.
    """
    return max(0, int((appointment.updated_at - appointment.created_at).total_seconds()))


def _organizer() -> vCalAddress:
    address = settings.CLINIC_EMAIL or parseaddr(settings.DEFAULT_FROM_EMAIL)[1]
    organizer = vCalAddress(f"mailto:{address}")
    organizer.params["CN"] = settings.CLINIC_NAME
    return organizer


def _attendee(appointment: Appointment) -> vCalAddress:
    # The recipient's own address only; RSVP off, as replies would go to an unattended mailbox.
    attendee = vCalAddress(f"mailto:{appointment.patient.email}")
    attendee.params["RSVP"] = "FALSE"
    return attendee


def appointment_event(appointment: Appointment, *, cancelled: bool, **extra) -> Event:
    """The appointment as one calendar event: times in UTC, no clinical text. The emails and the portal's
    download share its UID and SEQUENCE, so a calendar that has both treats them as one appointment."""
    return Event.new(
        uid=appointment_uid(appointment),
        start=appointment.starts_at.astimezone(UTC),
        end=appointment.ends_at.astimezone(UTC),
        stamp=timezone.now().astimezone(UTC),
        sequence=calendar_sequence(appointment),
        summary=f"Appointment at {settings.CLINIC_NAME}",
        location=settings.CLINIC_ADDRESS or settings.CLINIC_NAME,
        status=STATUS.CANCELLED if cancelled else STATUS.CONFIRMED,
        **extra,
    )


def appointment_calendar(appointment: Appointment, method: CalendarMethod) -> Calendar:
    """A one-event iCalendar: an invitation (REQUEST) or its withdrawal (CANCEL)."""
    event = appointment_event(
        appointment,
        cancelled=method == CalendarMethod.CANCEL,
        organizer=_organizer(),
        attendees=[_attendee(appointment)],
    )
    return Calendar.new(prodid=PRODID, method=method.value, subcomponents=[event])


def _calendar_attachment(calendar: Calendar, method: CalendarMethod) -> MIMEText:
    # Built by hand because EmailMessage.attach() cannot set the `method` parameter mail clients look for.
    part = MIMEText(calendar.to_ical().decode(), "calendar", "utf-8")
    part.set_param("method", method.value)
    part.add_header("Content-Disposition", "attachment", filename=CALENDAR_FILENAME)
    return part


# --- The email ----------------------------------------------------------------------------------------------------


def _context(appointment: Appointment) -> dict:
    patient = appointment.patient
    return {
        "name": patient.preferred_name or patient.given_name,
        "starts_at": timezone.localtime(appointment.starts_at),
        "clinic": {
            "name": settings.CLINIC_NAME,
            "phone": settings.CLINIC_PHONE,
            "address": settings.CLINIC_ADDRESS,
        },
    }


def _send(appointment: Appointment, template: str, method: CalendarMethod) -> None:
    context = _context(appointment)
    subject = "".join(render_to_string(f"scheduling/email/{template}_subject.txt", context).splitlines())
    body = render_to_string(f"scheduling/email/{template}_body.txt", context)
    message = EmailMessage(
        subject.strip(),
        body,
        to=[appointment.patient.email],
        reply_to=[settings.CLINIC_EMAIL] if settings.CLINIC_EMAIL else None,
    )
    message.attach(_calendar_attachment(appointment_calendar(appointment, method), method))
    message.send()
