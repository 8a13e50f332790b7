"""Who gets what from the documents URLs, role by role (the rows the project's URL matrix needs), and the admin
page where managers edit the aftercare wording."""

import pytest
from django.urls import reverse

from documents.models import AftercareText
from tests.documents.helpers import pending_document_for, ready_document_for
from tests.factories import CourseFactory, SessionFactory

ROLES = ("anonymous", "clinician", "front_desk", "manager", "patient", "outsider")
CLINICAL = {"anonymous": "login", "clinician": 200, "front_desk": 403, "manager": 403, "patient": 403, "outsider": 403}
CLINICAL_ACTION = {**CLINICAL, "clinician": 302}


def _download(patient) -> str:
    return reverse("documents:download", args=[ready_document_for(patient).pk])


def _retry(patient) -> str:
    return reverse("documents:retry", args=[pending_document_for(patient).pk])


def _session_status(patient) -> str:
    return reverse("documents:session_status", args=[SessionFactory(course=CourseFactory(patient=patient)).pk])


def _patient_status(patient) -> str:
    return reverse("documents:patient_status", args=[patient.pk])


ROUTES = {
    "documents:download": ("get", _download, CLINICAL),
    "documents:retry": ("post", _retry, CLINICAL_ACTION),
    "documents:session_status": ("get", _session_status, CLINICAL),
    "documents:patient_status": ("get", _patient_status, CLINICAL),
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("route", sorted(ROUTES))
def test_documents_urls_answer_each_role_as_the_matrix_expects(request, client, route, role, patient):
    method, make_url, expect = ROUTES[route]
    url = make_url(patient)
    if role != "anonymous":
        client = request.getfixturevalue(f"{role}_client")
    response = getattr(client, method)(url)
    if expect[role] == "login":
        assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    elif expect[role] == 302:
        assert response.status_code == 302 and not response["Location"].startswith(reverse("login"))
    else:
        assert response.status_code == expect[role]


def test_managers_edit_the_aftercare_wording_in_the_admin(manager_client, manager):
    url = reverse("admin:documents_aftercaretext_add")
    assert manager_client.get(url).status_code == 200
    wording = {"what_is_normal": "Mild soreness.", "what_to_do": "Rest.", "red_flags": "Fever.", "when_to_call": "Us."}
    response = manager_client.post(url, wording)
    assert response.status_code == 302
    newest = AftercareText.objects.order_by("-updated_at").first()
    assert newest.what_is_normal == "Mild soreness." and newest.updated_by == manager
