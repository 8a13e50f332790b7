"""A patient's accounting of disclosures: each time their documents or data left the clinic's hands.

Read from the audit trail (DISCLOSURE_ACTIONS): when, who, what (the document's kind and date, never its
content) and how. The documents named are loaded in one query per patient, whatever the number of rows.
"""

from dataclasses import dataclass
from datetime import date

from django.db.models import QuerySet
from django.utils import timezone

from audit.exports import local_time
from audit.models import DISCLOSURE_ACTIONS, Action, AuditEvent
from documents.models import Document
from patients.models import Patient

DISCLOSURES_PER_PAGE = 100
DOCUMENT_TYPE = Document._meta.label_lower

EXPORTS = {
    "audit_report": "An extract of the audit trail about this patient",
    "disclosures": "This accounting of disclosures",
    "fhir_everything": "The whole record as FHIR R4 (interop.views.patient_everything)",
}
# A lot recall (treatments.lots) lists every patient injected from a product lot: an EXPORT event per patient
# listed, its detail the lot, the dates searched and "via" (the page or the CSV).
LOT_RECALL = "lot_recall"
HOW: dict[tuple[str, str], str] = {
    (Action.DOCUMENT_DOWNLOADED, "portal"): "Downloaded by the patient through the patient portal",
    (Action.DOCUMENT_DOWNLOADED, "staff"): "Downloaded from the clinic's pages",
    (Action.DOCUMENT_SENT, "email"): "Emailed to the patient: a notice with a link to the portal, no attachment",
    (Action.EXPORT, "csv"): "Exported as a CSV file",
    (Action.EXPORT, "page"): "Shown on a page of the clinic's system",
    (Action.EXPORT, "fhir"): "Sent as FHIR JSON through the clinic's FHIR endpoint",
}

CSV_HEADER = ["when", "who", "what", "how"]


@dataclass(frozen=True)
class Disclosure:
    occurred_at: object
    who: str
    what: str
    how: str


def disclosure_events(patient: Patient) -> QuerySet[AuditEvent]:
    return (
        AuditEvent.objects.filter(patient=patient, action__in=DISCLOSURE_ACTIONS)
        .select_related("actor")
        .order_by("-occurred_at", "-id")
    )


def documents_of(patient: Patient) -> dict[str, Document]:
    """The patient's documents by id (as the audit trail stores it), each with its session's date."""
    documents = Document.objects.filter(patient=patient).select_related("session")
    return {str(document.pk): document for document in documents}


def _who(event: AuditEvent, patient: Patient) -> str:
    if event.actor is None:
        return "The clinic's system (automatic)"
    if event.actor_id == patient.user_id:
        return "The patient"
    return event.actor.get_full_name() or event.actor.get_username()


def _day(iso: str) -> str:
    try:
        return date.fromisoformat(iso).strftime("%d/%m/%Y")
    except (TypeError, ValueError):
        return str(iso)


def _lot_recall(detail: dict) -> str:
    """What was searched and how it was seen: Lot recall search for lot DX-2291, injections from 01/03/2026 to
    31/03/2026 (CSV)."""
    dates = ""
    if detail.get("from") or detail.get("to"):
        start = f" from {_day(detail['from'])}" if detail.get("from") else ""
        end = f" to {_day(detail['to'])}" if detail.get("to") else ""
        dates = f", injections{start}{end}"
    shown = "CSV" if detail.get("via") == "csv" else "page"
    return f"Lot recall search for lot {detail.get('lot', '')}{dates} ({shown})"


def _what(event: AuditEvent, documents: dict[str, Document]) -> str:
    if event.action == Action.EXPORT:
        if event.detail.get("export") == LOT_RECALL:
            return _lot_recall(event.detail)
        return EXPORTS.get(event.detail.get("export"), "Audit data about this patient")
    document = documents.get(event.object_id) if event.object_type == DOCUMENT_TYPE else None
    if document is None:
        return f"Document {event.object_id}"
    visit = timezone.localdate(document.session.performed_at).strftime("%d/%m/%Y")
    version = f", version {document.version}" if document.version > 1 else ""
    return f"{document.get_kind_display()} of the visit on {visit}{version}"


def _how(event: AuditEvent) -> str:
    channel = event.detail.get("via") or event.detail.get("channel") or ("csv" if event.action == Action.EXPORT else "")
    return HOW.get((event.action, channel), event.get_action_display())


def describe(event: AuditEvent, patient: Patient, documents: dict[str, Document]) -> Disclosure:
    return Disclosure(event.occurred_at, _who(event, patient), _what(event, documents), _how(event))


def csv_rows(events: QuerySet[AuditEvent], patient: Patient):
    documents = documents_of(patient)
    for event in events.iterator():
        row = describe(event, patient, documents)
        yield [local_time(row.occurred_at), row.who, row.what, row.how]
