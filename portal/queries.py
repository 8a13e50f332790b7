"""What the portal pages read, and the check-in the clinician sees on the session form."""

from datetime import datetime, time, timedelta

from django.conf import settings
from django.db.models import QuerySet, Subquery
from django.utils import timezone

from documents.access import own_documents
from documents.models import Document, DocumentKind
from patients.models import Patient
from portal.models import CheckIn
from scheduling.models import Appointment, AppointmentStatus

# The clinic keeps the slot for someone else only if it hears early enough.
CANCEL_NOTICE_HOURS = settings.PORTAL_CANCEL_NOTICE_HOURS
CANCEL_NOTICE = timedelta(hours=CANCEL_NOTICE_HOURS)
# Answers given weeks ahead say little about how the patient is on the day.
CHECK_IN_OPENS_BEFORE = timedelta(days=settings.PORTAL_CHECK_IN_DAYS)
# Still to come, or under way today; a no-show or a completed visit is history.
LIVE_STATUSES = (AppointmentStatus.BOOKED, AppointmentStatus.ARRIVED, AppointmentStatus.IN_TREATMENT)
PORTAL_DOCUMENT_KINDS = (DocumentKind.AFTERCARE, DocumentKind.VISIT_SUMMARY)


def upcoming_appointments(patient: Patient, now: datetime | None = None) -> QuerySet[Appointment]:
    now = now or timezone.now()
    return (
        Appointment.objects.filter(patient=patient, status__in=LIVE_STATUSES, ends_at__gt=now)
        .select_related("clinician", "check_in")
        .order_by("starts_at")
    )


def can_cancel_online(appointment: Appointment, now: datetime | None = None) -> bool:
    now = now or timezone.now()
    return appointment.status == AppointmentStatus.BOOKED and appointment.starts_at - now >= CANCEL_NOTICE


def check_in_open(appointment: Appointment, now: datetime | None = None) -> bool:
    """Open from a week before the appointment until it starts; answers stay editable until then."""
    now = now or timezone.now()
    return appointment.status == AppointmentStatus.BOOKED and now < appointment.starts_at <= now + CHECK_IN_OPENS_BEFORE


def portal_documents(patient: Patient) -> QuerySet[Document]:
    """The patient's own ready aftercare sheets and visit summaries, newest visit first and each document's
    newest version first, each with its session; the template marks superseded versions as replaced. Built on
    the rule the download applies (documents.access.own_documents), so the list can never offer what the
    download refuses."""
    return (
        own_documents(patient.pk)
        .filter(kind__in=PORTAL_DOCUMENT_KINDS)
        .select_related("session")
        .order_by("-session__performed_at", "kind", "-version")
    )


def portal_document_count(patient: Patient) -> int:
    """The documents in use: a replaced version is not another document."""
    return portal_documents(patient).filter(superseded_at__isnull=True).count()


def check_in_for_session_form(patient: Patient, now: datetime | None = None) -> CheckIn | None:
    """The check-in for the patient's appointment today, or else their most recent one before today.

    Only that one appointment's check-in is returned: an older check-in would describe an earlier visit,
    and showing it as today's answers could mislead the clinician.
    """
    now = now or timezone.now()
    end_of_today = timezone.make_aware(datetime.combine(timezone.localdate(now) + timedelta(days=1), time.min))
    appointment = (
        Appointment.objects.filter(patient=patient, starts_at__lt=end_of_today)
        .exclude(status__in=(AppointmentStatus.CANCELLED, AppointmentStatus.NO_SHOW))
        .order_by("-starts_at")
        .values("pk")[:1]
    )
    # One query: read on every view and every save of the session form, whose red alerts depend on it.
    return CheckIn.objects.select_related("appointment").filter(appointment=Subquery(appointment)).first()
