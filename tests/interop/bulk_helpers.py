"""FHIR bulk exports for the tests: patients with a record worth exporting, an export built in this process, and
its NDJSON files read back and parsed with fhir.resources (R4B)."""

import json

from django.core.files.storage import default_storage
from django.utils import timezone
from fhir.resources.R4B import get_fhir_model_class

from accounts.models import Role
from interop.bulk import services
from interop.models import BulkExport
from patients.models import Patient
from tests.factories import AssessmentFactory, CourseFactory, PatientFactory, UserFactory, signed_session


def patients_with_records(count: int) -> list[Patient]:
    """Patients with a course, a signed session and an assessment each, all treated by one clinician (whom every
    record names), and one with nothing but their details."""
    clinician = UserFactory(role=Role.CLINICIAN)
    patients = []
    for _ in range(count - 1):
        course = CourseFactory(created_by=clinician)
        signed_session(course=course)
        AssessmentFactory(patient=course.patient)
        patients.append(course.patient)
    patients.append(PatientFactory())
    return sorted(patients, key=lambda patient: patient.pk)


def build_in_process(export: BulkExport, *, slice_seconds: float = 600) -> BulkExport:
    """Run the export's runs here until it is finished (each hand-on sends it again: run it again)."""
    for _ in range(1000):
        outcome = services.export_build(export.pk, slice_seconds=slice_seconds)
        if outcome is not services.Outcome.HANDED_ON:
            break
    export.refresh_from_db()
    return export


def ready_bulk_export() -> BulkExport:
    manager = UserFactory(username="bulk-manager", role=Role.MANAGER)
    export = BulkExport.objects.create(requested_by=manager, enqueued_at=timezone.now())
    return build_in_process(export)


def ndjson_lines(content: bytes) -> list[dict]:
    """Every line a resource: JSON, one object per line, the file ending with a newline."""
    assert content.endswith(b"\n")
    return [json.loads(line) for line in content.decode().split("\n")[:-1]]


def parsed(resources: list[dict]) -> list:
    """Each resource through the library's own parser and validation (R4B)."""
    return [get_fhir_model_class(resource["resourceType"]).model_validate(resource) for resource in resources]


def stored_lines(export: BulkExport) -> dict[str, list[dict]]:
    files = {}
    for export_file in export.files.all():
        with default_storage.open(export_file.file_name, "rb") as stored:
            files[export_file.resource_type] = ndjson_lines(stored.read())
    return files
