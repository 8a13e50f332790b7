"""The "your aftercare sheet is ready" email. It carries a link to the portal and nothing clinical:
email is not a safe place for what was injected where, and the sheet itself is behind the portal's sign-in."""

import logging

from django.conf import settings
from django.core.mail import send_mail

from audit.models import Action, Source
from audit.services import record
from documents.models import Document, DocumentKind, DocumentStatus

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
        f"If you have not set up your portal account yet, or cannot sign in, please contact the clinic{phone}.\n\n"
        f"{settings.CLINIC_NAME}\n"
    )


def _audit_sent(document: Document) -> None:
    # The email names the clinic and the kind of document, so it tells its reader that this person is a patient:
    # it goes in the patient's accounting of disclosures, though the sheet itself stays behind the portal.
    detail = {"kind": document.kind, "version": document.version, "channel": "email", "attached": False}
    record(Action.DOCUMENT_SENT, patient=document.patient_id, obj=document, detail=detail, source=Source.TASK)


def document_ready_email_send(document_id: int) -> bool:
    """Email the patient that their aftercare sheet is ready; False when there is nobody to tell."""
    document = Document.objects.select_related("patient").filter(pk=document_id).first()
    if document is None or document.kind != DocumentKind.AFTERCARE or document.status != DocumentStatus.READY:
        return False
    if not document.is_current or not document.patient.email:
        return False
    send_mail(SUBJECT, ready_email_body(), None, [document.patient.email])
    _audit_sent(document)
    logger.info("ready email sent for document %s", document.pk)
    return True
