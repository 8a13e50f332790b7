"""The "your aftercare sheet is ready" email, once per visit, to patients who can sign in to the portal. It
carries a link to the portal and nothing clinical:
email is not a safe place for what was injected where, and the sheet itself is behind the portal's sign-in."""

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction

from audit.models import Action, Source
from audit.services import record
from documents.models import Document, DocumentKind, DocumentStatus
from patients.models import Patient
from pit_portal.outbox.models import EmailKind, OutboxEmail
from pit_portal.outbox.services import email_send
from portal.access import is_portal_user

logger = logging.getLogger(__name__)


SUBJECT = "Your aftercare sheet is ready"


def portal_url() -> str:
    return f"{settings.SITE_URL}/portal/"


def ready_email_body() -> str:
    # Plain text built here rather than in a template: an HTML-escaping template would turn "&" into "&amp;".
    phone = f" on {settings.CLINIC_PHONE}" if settings.CLINIC_PHONE else ""
    return (
        "Hello,\n\n"
        f"Your aftercare sheet from {settings.CLINIC_NAME} is ready. "
        "You can read and download it when you sign in to the patient portal:\n\n"
        f"{portal_url()}\n\n"
        f"If you cannot sign in, please contact the clinic{phone}.\n\n"
        f"{settings.CLINIC_NAME}\n"
    )


def _audit_sent(document: Document) -> None:
    # The email names the clinic and the kind of document, so it tells its reader that this person is a patient:
    # it goes in the patient's accounting of disclosures, though the sheet itself stays behind the portal.
    detail = {"kind": document.kind, "version": document.version, "channel": "email", "attached": False}
    record(Action.DOCUMENT_SENT, patient=document.patient_id, obj=document, detail=detail, source=Source.TASK)


def can_read_in_portal(patient: Patient) -> bool:
    """Whether the patient has a portal sign-in that works: the email only points there."""
    return patient.user is not None and is_portal_user(patient.user)


def ready_email_deliver(session_id: int) -> bool:
    """Email the patient that their visit's aftercare sheet is ready; the outbox row for the visit (one per visit,
    pit_portal.outbox) makes it once. False, and nothing sent, for a patient who cannot sign in: the email would
    point at a portal they cannot open."""
    document = (
        Document.objects.select_related("patient__user")
        .filter(session_id=session_id, kind=DocumentKind.AFTERCARE, superseded_at__isnull=True)
        .first()
    )
    if document is None or not (document.patient.email and can_read_in_portal(document.patient)):
        logger.info("ready email for session %s not sent: the patient has no portal account to read it", session_id)
        return False
    send_mail(SUBJECT, ready_email_body(), None, [document.patient.email])
    _audit_sent(document)
    return True


def document_ready_email_send(document_id: int) -> bool:
    """For a message sent before emails were owed per visit (by document id): the document's visit owes its
    email as a ready sheet's would, and it is sent through the outbox, so never twice. True if it was sent here."""
    from documents.services import ready_email_owe

    with transaction.atomic():
        document = Document.objects.filter(pk=document_id, status=DocumentStatus.READY).first()
        if document is None:
            return False
        ready_email_owe(document)
    owed = OutboxEmail.objects.get(kind=EmailKind.AFTERCARE_READY, object_id=document.session_id)
    return email_send(owed.pk)
