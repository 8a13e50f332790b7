"""What a patient's copy of their record holds, and writing it as a zip.

- `record.fhir.json`: the record as a FHIR R4 Bundle (interop.bundle, validated there);
- `documents/...pdf`: every ready PDF of theirs (aftercare sheets, visit summaries, replaced versions too), each
  read through the documents storage and checked against its SHA-256 first, as a download is;
- `summary.html`: the same record in plain words, one self-contained page (no scripts, no links out, its styles
  inline) that opens in any browser.

The zip is written into a file the caller gives (a temporary file in the worker), a member at a time: one PDF at
most is held in memory. The summary's reads are a fixed handful of queries, whatever the size of the record."""

import zipfile
from dataclasses import dataclass
from typing import BinaryIO

from django.conf import settings
from django.db.models import Prefetch, QuerySet
from django.template.loader import render_to_string
from django.utils import timezone

from assessments.models import Assessment
from documents.downloads import download_file_name
from documents.models import Document, DocumentStatus
from documents.storage import read_verified
from patients.models import Intake, Patient, PatientConsent
from portal.models import CheckIn
from portal.queries import PORTAL_DOCUMENT_KINDS
from scheduling.models import Appointment
from treatments.models import InjectionSession, InjectionSite, TreatmentCourse

FHIR_FILE = "record.fhir.json"
SUMMARY_FILE = "summary.html"
DOCUMENTS_FOLDER = "documents"
SUMMARY_TEMPLATE = "portal/record_copy/summary.html"


def fhir_bundle(patient: Patient) -> bytes:
    """The patient's record as a FHIR R4 Bundle in JSON: the one place the copy asks the interop app for it."""
    from interop.bundle import bundle_json

    return bundle_json(patient)


@dataclass
class PackedDocument:
    """A PDF of the patient's and where it is in the zip; `member` is empty when its stored file failed its
    checksum (it is left out, and the documents app rebuilds it)."""

    document: Document
    member: str = ""


def ready_documents(patient: Patient) -> QuerySet[Document]:
    """Every ready PDF of the patient's, oldest visit first: what the portal's documents page lists, less any
    being rebuilt (it has no file to give just now)."""
    return (
        Document.objects.filter(patient_id=patient.pk, status=DocumentStatus.READY, kind__in=PORTAL_DOCUMENT_KINDS)
        .select_related("session")
        .order_by("session__performed_at", "kind", "version", "pk")
    )


def _member_name(document: Document, taken: set[str]) -> str:
    """The documents' own download name (no patient name), made unique within the zip (two visits in a day)."""
    stem = download_file_name(document).removesuffix(".pdf")
    name, count = f"{DOCUMENTS_FOLDER}/{stem}.pdf", 1
    while name in taken:
        count += 1
        name = f"{DOCUMENTS_FOLDER}/{stem}-{count}.pdf"
    taken.add(name)
    return name


def pack_documents(package: zipfile.ZipFile, patient: Patient) -> list[PackedDocument]:
    """Add each ready PDF whose stored bytes still match their SHA-256. Raises documents.storage.StorageUnavailable
    when the store does not answer (the task tries the whole copy again later)."""
    from documents.services import document_rebuild

    packed: list[PackedDocument] = []
    taken: set[str] = set()
    for document in ready_documents(patient):
        content = read_verified(document)
        if content is None:
            # Not the file that was made: never given out; the documents app makes it again.
            document_rebuild(document_id=document.pk)
            packed.append(PackedDocument(document))
            continue
        member = _member_name(document, taken)
        # PDFs are compressed already: stored as they are.
        package.writestr(member, content, compress_type=zipfile.ZIP_STORED)
        packed.append(PackedDocument(document, member))
    return packed


def summary_context(patient: Patient, documents: list[PackedDocument]) -> dict:
    """What summary.html shows, read in a fixed number of queries."""
    intake = Intake.objects.filter(patient_id=patient.pk).prefetch_related("conditions", "medications").first()
    sites = InjectionSite.objects.select_related("nerve").order_by("pk")
    sessions = (
        InjectionSession.objects.filter(course__patient_id=patient.pk, signed_at__isnull=False)
        .select_related("course__condition", "clinician")
        .prefetch_related(Prefetch("sites", queryset=sites), "adverse_events")
        .order_by("performed_at", "pk")
    )
    return {
        "patient": patient,
        "intake": intake,
        "courses": TreatmentCourse.objects.filter(patient_id=patient.pk).select_related("condition")
        .order_by("started_on", "pk"),
        "consents": PatientConsent.objects.filter(patient_id=patient.pk).select_related("consent_text")
        .order_by("signed_at", "pk"),
        "sessions": sessions,
        "assessments": Assessment.objects.filter(patient_id=patient.pk).select_related("condition")
        .order_by("assessed_at", "pk"),
        "check_ins": CheckIn.objects.filter(patient_id=patient.pk).select_related("appointment")
        .order_by("submitted_at", "pk"),
        "appointments": Appointment.objects.filter(patient_id=patient.pk)
        .select_related("clinician", "appointment_type").order_by("starts_at", "pk"),
        "documents": documents,
        "made_at": timezone.localtime(),
        "clinic": {"name": settings.CLINIC_NAME, "phone": settings.CLINIC_PHONE, "email": settings.CLINIC_EMAIL},
        "files": {"fhir": FHIR_FILE},
    }  # fmt: skip


def summary_html(patient: Patient, documents: list[PackedDocument]) -> str:
    return render_to_string(SUMMARY_TEMPLATE, summary_context(patient, documents))


def write_package(target: BinaryIO, patient: Patient) -> list[PackedDocument]:
    """Write the zip into `target`, a binary file opened for writing; returns the PDFs it holds (or left out)."""
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as package:
        package.writestr(FHIR_FILE, fhir_bundle(patient))
        documents = pack_documents(package, patient)
        package.writestr(SUMMARY_FILE, summary_html(patient, documents))
    return documents
