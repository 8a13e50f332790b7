"""One patient's record as a FHIR R4 Bundle, validated by building it through fhir.resources' R4B models."""

import json

from django.utils import timezone
from fhir.resources.R4B.bundle import Bundle

from interop.codes import BASE
from interop.records import load_records
from interop.resources import patient_resources
from patients.models import Patient


def entries(resources) -> list[dict]:
    """Bundle entries, each with an absolute fullUrl on the clinic's base, against which the resources' relative
    "Type/id" references resolve to entries of the same bundle. A shared
    resource (a Questionnaire, a Practitioner) appears once."""
    seen: set[str] = set()
    result = []
    for resource in resources:
        key = f"{resource['resourceType']}/{resource['id']}"
        if key not in seen:
            seen.add(key)
            result.append({"fullUrl": f"{BASE}/{key}", "resource": resource, "search": {"mode": "match"}})
    return result


def patient_bundle(patient: Patient) -> Bundle:
    """Everything the clinic holds about the patient, as $everything answers: a searchset of every resource.

    Building the Bundle model validates each resource against FHIR's R4B definitions (R4B shares R4's models for
    every resource used here); an invalid resource raises pydantic's ValidationError."""
    record = load_records([patient.pk])[0]
    found = entries(patient_resources(record))
    return Bundle.model_validate(
        {
            "resourceType": "Bundle",
            "type": "searchset",
            "timestamp": timezone.now().isoformat(),
            "total": len(found),
            "entry": found,
        }
    )


def bundle_json(patient: Patient) -> bytes:
    """The patient's bundle as FHIR JSON (UTF-8), validated."""
    return bundle_bytes(patient_bundle(patient))


def bundle_bytes(bundle: Bundle) -> bytes:
    return json.dumps(bundle.model_dump(mode="json", exclude_none=True), ensure_ascii=False).encode()
