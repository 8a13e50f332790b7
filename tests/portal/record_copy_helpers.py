"""A patient with a signed visit whose two PDFs were rendered by the documents' own pipeline, and ways to read a
copy's zip back."""

import hashlib
import io
import json
import zipfile
from datetime import timedelta

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone
from fhir.resources.R4B.bundle import Bundle
from pypdf import PdfReader

from documents.models import Document
from documents.services import document_build
from patients.models import Patient
from portal.models import CopyStatus, RecordCopy
from tests.factories import CourseFactory, SessionFactory
from treatments.models import InjectionSession
from treatments.services import session_sign


def signed_visit(patient: Patient, *, days_ago: int = 1, sites: int = 2) -> InjectionSession:
    """A session note with `sites` sites, signed through the service the product uses, and its aftercare sheet and
    visit summary rendered and stored (in this process, as the worker would)."""
    session = SessionFactory(
        course=CourseFactory(patient=patient), sites=sites, performed_at=timezone.now() - timedelta(days=days_ago)
    )
    session = session_sign(session=session, by=session.clinician)
    for document in Document.objects.filter(session=session):
        assert document_build(document.pk)
    return session


def read_zip(content: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(content)) as package:
        assert package.testzip() is None  # every member's CRC checks out
        return {name: package.read(name) for name in package.namelist()}


def stored_zip(copy: RecordCopy) -> dict[str, bytes]:
    with default_storage.open(copy.file_name, "rb") as stored:
        return read_zip(stored.read())


def bundle_of(members: dict[str, bytes]) -> Bundle:
    """record.fhir.json parsed by fhir.resources (R4B, the R4 models it ships), which validates it."""
    assert json.loads(members["record.fhir.json"])["resourceType"] == "Bundle"
    return Bundle.model_validate_json(members["record.fhir.json"])


def pdf_text(content: bytes) -> str:
    return " ".join(" ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(content)).pages)


def ready_copy(patient: Patient, **fields) -> RecordCopy:
    """A READY copy row with a stored zip of one small member (for the download's own tests), made seven days
    before it expires."""
    content = io.BytesIO()
    with zipfile.ZipFile(content, "w") as package:
        package.writestr("summary.html", "<p>summary</p>")
    data = content.getvalue()
    copy = RecordCopy.objects.create(patient=patient, requested_by=patient.user, status=CopyStatus.PENDING)
    name = default_storage.save(f"record-copies/test-{copy.pk}.zip", ContentFile(data))
    expires_at = fields.pop("expires_at", timezone.now() + timedelta(days=7))
    values = {
        "status": CopyStatus.READY,
        "file_name": name,
        "sha256": hashlib.sha256(data).hexdigest(),
        "size_bytes": len(data),
        "ready_at": expires_at - timedelta(days=7),
        "expires_at": expires_at,
        **fields,
    }
    RecordCopy.objects.filter(pk=copy.pk).update(**values)
    copy.refresh_from_db()
    return copy
