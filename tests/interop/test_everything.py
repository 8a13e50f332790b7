"""GET fhir/Patient/<id>/$everything: clinicians only, audited, read-only, a fixed number of queries."""

import json

import pytest
from django.urls import reverse
from fhir.resources.R4B.bundle import Bundle

from audit.models import Action, AuditEvent
from tests.factories import PatientFactory
from tests.interop.helpers import full_record

pytestmark = pytest.mark.django_db


def url(patient) -> str:
    return reverse("interop:patient_everything", kwargs={"pk": patient.pk})


def test_url_is_fhirs_own_path(patient):
    assert url(patient) == f"/fhir/Patient/{patient.pk}/$everything"


def test_clinician_gets_the_bundle_as_fhir_json_and_it_is_audited(clinician_client, clinician, patient):
    full_record(patient)
    response = clinician_client.get(url(patient))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/fhir+json; charset=utf-8"
    bundle = Bundle.model_validate_json(response.content)
    assert bundle.type == "searchset"
    assert bundle.entry[0].resource.id == f"patient-{patient.pk}"
    event = AuditEvent.objects.get(action=Action.EXPORT, patient=patient)
    assert event.actor == clinician
    assert event.detail == {"export": "fhir_everything", "via": "fhir", "resources": bundle.total}


@pytest.mark.parametrize("role", ["front_desk", "manager", "patient", "outsider"])
def test_roles_without_clinical_access_are_refused_and_get_no_content(request, role, patient):
    full_record(patient)
    response = request.getfixturevalue(f"{role}_client").get(url(patient))
    assert response.status_code in (403, 404)
    assert b"DX-2291" not in response.content and b"resourceType" not in response.content
    assert not AuditEvent.objects.filter(action=Action.EXPORT).exists()


def test_anonymous_is_sent_to_sign_in(client, patient):
    response = client.get(url(patient))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_unknown_patient_is_404(clinician_client, patient):
    missing = PatientFactory()
    missing_url = url(missing)
    missing.intake.delete()
    missing.delete()
    assert clinician_client.get(missing_url).status_code == 404


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_only_get_is_allowed(clinician_client, patient, method):
    response = getattr(clinician_client, method)(url(patient))
    assert response.status_code == 405
    assert response["Allow"] == "GET"


def test_query_count_does_not_grow_with_the_record(
    clinician_client, patient, other_patient, django_assert_max_num_queries, warm_worker
):
    # Both records have every kind of row (a prefetch is skipped when there is nothing to prefetch for).
    full_record(other_patient)
    with django_assert_max_num_queries(25) as small:
        few = json.loads(clinician_client.get(url(other_patient)).content)["entry"]
    for _ in range(3):
        full_record(patient)
    with django_assert_max_num_queries(25) as large:
        many = json.loads(clinician_client.get(url(patient)).content)["entry"]
    assert len(many) > 2 * len(few)
    assert len(large.captured_queries) == len(small.captured_queries)
