"""Rows the portal tests need, written straight into the tables: the booking and PDF pipelines have their own tests."""

import hashlib
import io
from datetime import datetime, timedelta

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone
from pypdf import PdfWriter

from accounts.models import Role, User
from documents.models import Document, DocumentKind, DocumentStatus
from patients.models import Patient
from portal.models import PatientInvite
from scheduling.models import Appointment, AppointmentStatus, AppointmentType
from tests.factories import CourseFactory, SessionFactory, UserFactory


def appointment_type() -> AppointmentType:
    # get_or_create: a transactional (browser) test's flush removes the data migration's rows.
    kind, _ = AppointmentType.objects.get_or_create(
        code="pit-session", defaults={"name": "PIT session", "duration_minutes": 20}
    )
    return kind


def make_appointment(
    patient: Patient, starts_at: datetime, *, clinician: User | None = None, status: str = AppointmentStatus.BOOKED
) -> Appointment:
    kind = appointment_type()
    clinician = clinician or UserFactory(role=Role.CLINICIAN)
    return Appointment.objects.create(
        patient=patient,
        clinician=clinician,
        appointment_type=kind,
        starts_at=starts_at,
        ends_at=starts_at + timedelta(minutes=kind.duration_minutes),
        status=status,
        cancel_reason="Asked to cancel" if status == AppointmentStatus.CANCELLED else "",
        notes="Review the sural nerve response",  # clinical text that the portal must not show
        created_by=clinician,
    )


def in_days(days: float) -> datetime:
    return timezone.now() + timedelta(days=days)


def tiny_pdf() -> bytes:
    """A real, one-page PDF."""
    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def make_document(patient: Patient, *, kind: str = DocumentKind.AFTERCARE, **fields) -> Document:
    """A READY document with its PDF in (private) default storage and the right checksum."""
    content = tiny_pdf()
    session = SessionFactory(course=CourseFactory(patient=patient))
    document = Document.objects.create(patient=patient, session=session, kind=kind)
    name = default_storage.save(f"tests/{document.pk}.pdf", ContentFile(content))
    values = {
        "file_name": name,
        "sha256": hashlib.sha256(content).hexdigest(),
        "size_bytes": len(content),
        "page_count": 1,
        "status": DocumentStatus.READY,
        "ready_at": timezone.now(),
        **fields,
    }
    Document.objects.filter(pk=document.pk).update(**values)
    document.refresh_from_db()
    return document


def make_invite(patient: Patient, token: str, *, by: User | None = None, **fields) -> PatientInvite:
    """An invitation whose link token the test knows (the worker would have emailed it).

    An expired one is made by moving both times back afterwards: created_at is set on insert."""
    expires_at = fields.pop("expires_at", timezone.now() + timedelta(days=7))
    invite = PatientInvite.objects.create(
        patient=patient,
        token_sha256=PatientInvite.digest(token),
        email=fields.pop("email", patient.email),
        expires_at=timezone.now() + timedelta(days=7),
        created_by=by or UserFactory(role=Role.FRONT_DESK),
        **fields,
    )
    PatientInvite.objects.filter(pk=invite.pk).update(created_at=expires_at - timedelta(days=7), expires_at=expires_at)
    invite.refresh_from_db()
    return invite
