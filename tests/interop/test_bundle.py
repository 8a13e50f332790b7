"""The patient's FHIR bundle: valid R4 (R4B models), every reference resolving inside it, every kind present."""

import json
from collections import Counter
from datetime import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from fhir.resources.R4B.bundle import Bundle

from assessments.models import Nerve
from interop import codes
from interop.bundle import bundle_json, patient_bundle
from interop.records import load_records
from interop.resources import patient_resources
from patients import services
from patients.models import ConsentGiven
from tests.factories import CourseFactory, PatientFactory, SessionFactory
from tests.interop.helpers import add_site, full_record
from treatments.services import session_sign

pytestmark = pytest.mark.django_db


def references(value) -> list[str]:
    """Every `reference` string anywhere in a JSON value."""
    if isinstance(value, dict):
        found = [value["reference"]] if isinstance(value.get("reference"), str) else []
        return found + [ref for item in value.values() for ref in references(item)]
    if isinstance(value, list):
        return [ref for item in value for ref in references(item)]
    return []


def parsed(patient) -> tuple[Bundle, dict]:
    """The bundle's JSON read back through the library's parser, and the plain JSON."""
    raw = bundle_json(patient)
    return Bundle.model_validate_json(raw), json.loads(raw)


def test_full_record_round_trips_and_every_reference_resolves(patient):
    full_record(patient)
    bundle, data = parsed(patient)
    ids = {f"{entry['resource']['resourceType']}/{entry['resource']['id']}" for entry in data["entry"]}
    assert len(ids) == len(data["entry"]) == bundle.total
    refs = references(data["entry"])
    assert refs, "a full record refers to something"
    assert set(refs) - ids == set()
    for entry in data["entry"]:
        resource = entry["resource"]
        assert entry["fullUrl"] == f"{codes.BASE}/{resource['resourceType']}/{resource['id']}"


def test_full_record_has_every_resource_type(patient):
    full_record(patient)
    _, data = parsed(patient)
    kinds = Counter(entry["resource"]["resourceType"] for entry in data["entry"])
    expected = {
        "Patient", "Practitioner", "Condition", "AllergyIntolerance", "MedicationStatement", "Consent",
        "Observation", "Questionnaire", "QuestionnaireResponse", "Procedure", "BodyStructure", "Medication",
        "AdverseEvent", "Appointment", "DocumentReference",
    }  # fmt: skip
    assert expected - set(kinds) == set()
    assert kinds["Patient"] == 1
    assert kinds["Questionnaire"] == 3  # assessment, check-in, between-visit questions
    assert kinds["QuestionnaireResponse"] == 3
    assert kinds["AdverseEvent"] == 2  # one in the signed note, one reported later


def by_id(data: dict) -> dict[str, dict]:
    return {entry["resource"]["id"]: entry["resource"] for entry in data["entry"]}


def test_drafts_are_never_exported(patient):
    rows = full_record(patient)
    _, data = parsed(patient)
    resources = by_id(data)
    assert f"session-{rows['session'].pk}" in resources
    assert f"session-{rows['later'].pk}" in resources
    assert f"session-{rows['draft'].pk}" not in resources
    assert "DRAFT-LOT" not in json.dumps(data)


def test_procedure_carries_solution_lot_volume_and_sites(patient):
    rows = full_record(patient)
    _, data = parsed(patient)
    resources = by_id(data)
    session = rows["session"]
    procedure = resources[f"session-{session.pk}"]
    assert procedure["status"] == "completed"
    medication = resources[f"solution-{session.pk}"]
    assert medication["batch"]["lotNumber"] == "DX-2291"
    assert medication["ingredient"][0]["strength"]["numerator"]["value"] == 5
    volume = next(ext for ext in procedure["extension"] if ext["url"] == codes.EXT_VOLUME)
    assert volume["valueQuantity"] == {"value": 2, "unit": "mL", "system": codes.UCUM, "code": "mL"}  # 4 x 0.5 mL
    site = session.sites.get()
    structure = resources[f"site-{site.pk}"]
    assert structure["locationQualifier"][0]["coding"][0]["code"] == "7771000"  # left
    assert procedure["bodySite"][0]["coding"][-1] == {
        "system": codes.NERVE, "code": site.nerve.code, "display": site.nerve.name
    }  # fmt: skip


def test_nerve_with_a_snomed_concept_carries_it_and_others_are_local(patient):
    infraorbital = Nerve.objects.create(code="infraorbital-nerve", name="Infraorbital nerve", region="head_neck")
    sural = Nerve.objects.get(code="sural-nerve")
    draft = SessionFactory(course=CourseFactory(patient=patient))

    add_site(draft.pk, infraorbital, "right")
    add_site(draft.pk, sural, "midline")
    session = session_sign(session=draft, by=draft.clinician)
    _, data = parsed(patient)
    procedure = by_id(data)[f"session-{session.pk}"]
    snomed, sural_site = procedure["bodySite"]
    assert snomed["coding"][0] == {"system": codes.SNOMED, "code": "8161005", "display": "Infraorbital nerve"}
    assert snomed["text"] == "Infraorbital nerve, right"
    assert [coding["system"] for coding in sural_site["coding"]] == [codes.NERVE]
    structures = [r for r in by_id(data).values() if r["resourceType"] == "BodyStructure"]
    qualifiers = {s["locationQualifier"][0]["coding"][0]["code"] for s in structures}
    assert qualifiers == {"24028007", "midline"}


def test_scores_use_loinc_where_it_exists_and_local_codes_otherwise(patient):
    rows = full_record(patient)
    _, data = parsed(patient)
    resources = by_id(data)
    prefix = f"assessment-{rows['assessment'].pk}"
    assert resources[f"{prefix}-nrs-now"]["code"]["coding"][0]["code"] == "72514-3"
    peg = resources[f"{prefix}-peg"]
    assert peg["code"]["coding"][0] == codes.PEG_SCORE.coding()
    assert peg["valueQuantity"]["value"] == 7  # (7 + 6 + 8) / 3
    assert [c["code"]["coding"][0]["code"] for c in peg["component"]] == ["75893-8", "91145-3", "91146-1"]
    dn4 = resources[f"{prefix}-dn4"]
    assert dn4["code"]["coding"][0]["system"] == codes.MEASURE and dn4["valueInteger"] == 2
    assert resources[f"{prefix}-psfs"]["valueQuantity"]["value"] == 4
    report = resources[f"report-{rows['report'].pk}-pgic"]
    assert report["valueCodeableConcept"]["coding"][0]["code"] == "2"
    assert resources[f"check-in-{rows['check_in'].pk}-peg"]["derivedFrom"] == [
        {"reference": f"QuestionnaireResponse/check-in-{rows['check_in'].pk}"}
    ]


def test_consent_says_version_signer_witness_and_withdrawal(patient):
    rows = full_record(patient)
    consent = rows["consent"]
    services.consent_withdraw(patient=patient, via=ConsentGiven.DESK, reason="Moving abroad")
    consent.refresh_from_db()
    _, data = parsed(patient)
    resource = by_id(data)[f"consent-{consent.pk}"]
    assert resource["policy"] == [{"uri": f"{codes.CONSENT_TEXT}/{consent.consent_text.version}"}]
    assert resource["performer"][0]["reference"] == f"Patient/patient-{patient.pk}"
    witness = next(ext for ext in resource["extension"] if ext["url"] == codes.EXT_WITNESS)
    assert witness["valueReference"] == {"reference": f"Practitioner/practitioner-{consent.witnessed_by_id}"}
    assert resource["status"] == "inactive"
    end = resource["provision"]["period"]["end"]
    assert datetime.fromisoformat(end) == consent.withdrawn_at
    reason = next(ext for ext in resource["extension"] if ext["url"] == codes.EXT_WITHDRAWAL_REASON)
    assert reason["valueString"] == "Moving abroad"


def test_document_reference_carries_the_sha256(patient):
    rows = full_record(patient)
    _, data = parsed(patient)
    document = rows["document"]
    resource = by_id(data)[f"document-{document.pk}"]
    attachment = resource["content"][0]["attachment"]
    assert attachment["contentType"] == "application/pdf"
    assert attachment["size"] == document.size_bytes
    assert attachment["extension"] == [{"url": codes.EXT_SHA256, "valueString": document.sha256}]
    assert resource["context"]["related"] == [{"reference": f"Procedure/session-{document.session_id}"}]


def test_patient_with_no_clinical_data_gives_a_bundle_of_just_the_patient():
    patient = PatientFactory()
    bundle, data = parsed(patient)
    assert [entry["resource"]["resourceType"] for entry in data["entry"]] == ["Patient"]
    assert bundle.entry[0].resource.id == f"patient-{patient.pk}"


def test_load_records_reads_a_fixed_number_of_queries_whatever_the_patients():
    one = PatientFactory()
    full_record(one)
    with CaptureQueriesContext(connection) as few:
        list(patient_resources(load_records([one.pk])[0]))
    many = [PatientFactory() for _ in range(3)]
    for patient in many:
        full_record(patient)
    with CaptureQueriesContext(connection) as more:
        for record in load_records([one.pk, *(patient.pk for patient in many)]):
            list(patient_resources(record))
    assert len(more) == len(few)
    assert len(few) <= 20


def test_patient_bundle_is_a_searchset():
    patient = PatientFactory()
    assert patient_bundle(patient).type == "searchset"
