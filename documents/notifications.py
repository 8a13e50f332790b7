"""The "your aftercare sheet is ready" email, once per visit, to patients who can sign in to the portal. It
carries a link to the portal and nothing clinical:
email is not a safe place for what was injected where, and the sheet itself is behind the portal's sign-in."""

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from audit.models import Action, Source
from audit.services import record
from documents.models import Document, DocumentKind, DocumentStatus, ReadyEmail, ReadyEmailStatus
from patients.models import Patient
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


def _settle(owed: ReadyEmail, status: str) -> None:
    owed.status, owed.settled_at = status, timezone.now()
    owed.save(update_fields=["status", "settled_at"])


def ready_email_send(ready_email_id: int) -> bool:
    """Email the patient, once, that their visit's aftercare sheet is ready; False when nothing was sent.

    The row is locked and settled in one transaction, the send inside it: a second run (a retry, a redelivered
    message, the sweeper) waits, then finds it settled. A patient who cannot sign in is not told (the email
    would point at a portal they cannot open), and the row is settled as not sent, for good."""
    with transaction.atomic():
        owed = (
            ReadyEmail.objects.select_for_update(of=("self",))
            .select_related("patient__user")
            .filter(pk=ready_email_id, status=ReadyEmailStatus.PENDING)
            .first()
        )
        if owed is None:
            return False
        if not (owed.patient.email and can_read_in_portal(owed.patient)):
            _settle(owed, ReadyEmailStatus.NOT_SENT)
            logger.info("ready email %s not sent: the patient has no portal account to read it", owed.pk)
            return False
        send_mail(SUBJECT, ready_email_body(), None, [owed.patient.email])
        _settle(owed, ReadyEmailStatus.SENT)
        _audit_sent(_current_aftercare(owed.session_id))
    logger.info("ready email %s sent", ready_email_id)
    return True


def _current_aftercare(session_id: int) -> Document:
    return Document.objects.get(session_id=session_id, kind=DocumentKind.AFTERCARE, superseded_at__isnull=True)


def document_ready_email_send(document_id: int) -> bool:
    """For a message sent before emails were owed per visit (by document id): the document's visit owes its
    email as a ready sheet's would, and it is sent through ready_email_send, so never twice."""
    from documents.services import ready_email_owe

    with transaction.atomic():
        document = Document.objects.filter(pk=document_id, status=DocumentStatus.READY).first()
        owed = ready_email_owe(document) if document is not None else None
    return owed is not None and ready_email_send(owed.pk)
