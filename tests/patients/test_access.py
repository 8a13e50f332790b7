"""Object-level access: "not yours" and "not there" must look the same."""

import re

import pytest
from django.contrib.auth.models import AnonymousUser, Permission
from django.forms.models import model_to_dict
from django.http import Http404
from django.urls import reverse

from patients.access import get_patient_for
from patients.models import Patient, PatientConsent
from tests.factories import PatientFactory, UserFactory

PATIENT_URLS = ["patients:detail", "patients:edit", "patients:intake", "patients:consent"]
# Enough of a form for each page that a view reaching the save step would save something.
POSTS = {
    "patients:detail": {},
    "patients:edit": {"given_name": "Changed", "family_name": "Name", "date_of_birth": "1980-01-01", "sex": "male"},
    "patients:intake": {"notes": "changed", "medications-TOTAL_FORMS": "0", "medications-INITIAL_FORMS": "0"},
    "patients:consent": {"has_read": "on", "signed_name": "Changed Name"},
}


@pytest.fixture
def missing_pk(db) -> int:
    """The id of a patient that existed once: nothing answers to it now."""
    gone = PatientFactory()
    pk = gone.pk
    gone.delete()
    return pk


@pytest.fixture
def limited_user(db):
    """Holds the record-editing permissions but not view_patient: reaches only a record linked to them."""
    user = UserFactory(username="lee")
    codenames = ["change_patient", "change_intake", "add_patientconsent", "view_intake"]
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="patients", codename__in=codenames))
    return user


def _page(response) -> tuple[int, bytes]:
    """Status and body, without the per-request CSRF token the layout carries."""
    body = re.sub(rb'("X-CSRFToken": "|name="csrfmiddlewaretoken" value=")[^"]*', rb"\1", response.content)
    return response.status_code, body


def _snapshot(pk: int) -> dict:
    patient = Patient.objects.get(pk=pk)
    return {
        "patient": model_to_dict(patient),
        "intake": model_to_dict(patient.intake),
        "consents": PatientConsent.objects.filter(patient=patient).count(),
    }


# --- get_patient_for, the single gate every view uses -------------------------------------------


def test_staff_with_view_permission_reaches_any_patient(clinician, other_patient):
    assert get_patient_for(clinician, other_patient.pk) == other_patient


def test_patient_user_reaches_their_own_record(patient_user, patient):
    assert get_patient_for(patient_user, patient.pk) == patient


def test_someone_elses_record_raises_the_same_404_as_a_missing_one(patient_user, other_patient, missing_pk):
    with pytest.raises(Http404) as not_yours:
        get_patient_for(patient_user, other_patient.pk)
    with pytest.raises(Http404) as not_there:
        get_patient_for(patient_user, missing_pk)
    assert str(not_yours.value) == str(not_there.value)


def test_user_with_no_role_reaches_no_record(outsider, other_patient):
    with pytest.raises(Http404):
        get_patient_for(outsider, other_patient.pk)


def test_anonymous_user_reaches_no_record(other_patient):
    with pytest.raises(Http404):
        get_patient_for(AnonymousUser(), other_patient.pk)


def test_deactivated_staff_member_reaches_no_record(clinician, other_patient):
    clinician.is_active = False
    clinician.save()
    with pytest.raises(Http404):
        get_patient_for(clinician, other_patient.pk)


# --- through the views --------------------------------------------------------------------------


@pytest.mark.parametrize("name", PATIENT_URLS)
@pytest.mark.parametrize("staff", ["clinician_client", "front_desk_client"])
def test_staff_get_404_for_a_missing_patient_id(request, staff, name, missing_pk):
    client = request.getfixturevalue(staff)
    assert client.get(reverse(name, kwargs={"pk": missing_pk})).status_code == 404


@pytest.mark.parametrize("name", PATIENT_URLS)
def test_posting_to_a_missing_patient_id_answers_404_and_saves_nothing(front_desk_client, name, missing_pk):
    patients_before = Patient.objects.count()
    consents_before = PatientConsent.objects.count()
    response = front_desk_client.post(reverse(name, kwargs={"pk": missing_pk}), POSTS[name])
    assert response.status_code == 404
    assert Patient.objects.count() == patients_before
    assert PatientConsent.objects.count() == consents_before


def test_manager_gets_404_for_a_missing_patient_id(manager_client, missing_pk):
    assert manager_client.get(reverse("patients:detail", kwargs={"pk": missing_pk})).status_code == 404


@pytest.mark.parametrize("name", PATIENT_URLS)
@pytest.mark.parametrize("whose", ["own", "other", "missing"])
def test_patient_user_is_refused_on_staff_patient_pages(
    patient_client, name, whose, patient, other_patient, missing_pk
):
    pk = {"own": patient.pk, "other": other_patient.pk, "missing": missing_pk}[whose]
    assert patient_client.get(reverse(name, kwargs={"pk": pk})).status_code == 403


@pytest.mark.parametrize("name", PATIENT_URLS)
def test_patient_user_cannot_tell_other_records_from_missing_ones(patient_client, name, other_patient, missing_pk):
    other = patient_client.get(reverse(name, kwargs={"pk": other_patient.pk}))
    missing = patient_client.get(reverse(name, kwargs={"pk": missing_pk}))
    assert _page(other) == _page(missing)


@pytest.mark.parametrize("name", PATIENT_URLS)
def test_patient_user_posting_to_own_record_changes_nothing(patient_client, name, patient):
    before = _snapshot(patient.pk)
    response = patient_client.post(reverse(name, kwargs={"pk": patient.pk}), POSTS[name])
    assert response.status_code == 403
    assert _snapshot(patient.pk) == before


@pytest.mark.parametrize("name", PATIENT_URLS)
def test_user_without_a_role_is_refused_on_patient_pages(outsider_client, name, other_patient):
    assert outsider_client.get(reverse(name, kwargs={"pk": other_patient.pk})).status_code == 403


@pytest.mark.parametrize("name", ["patients:edit", "patients:intake", "patients:consent"])
def test_record_the_user_may_not_see_answers_404_exactly_like_a_missing_one(
    client, limited_user, name, other_patient, missing_pk
):
    client.force_login(limited_user)
    not_yours = client.get(reverse(name, kwargs={"pk": other_patient.pk}))
    not_there = client.get(reverse(name, kwargs={"pk": missing_pk}))
    assert not_yours.status_code == 404
    assert _page(not_yours) == _page(not_there)


@pytest.mark.parametrize("name", ["patients:edit", "patients:intake", "patients:consent"])
def test_posting_to_a_record_the_user_may_not_see_changes_nothing(client, limited_user, name, other_patient):
    client.force_login(limited_user)
    before = _snapshot(other_patient.pk)
    response = client.post(reverse(name, kwargs={"pk": other_patient.pk}), POSTS[name])
    assert response.status_code == 404
    assert _snapshot(other_patient.pk) == before


def test_the_same_user_reaches_a_record_linked_to_them(client, limited_user):
    own = PatientFactory(user=limited_user)
    client.force_login(limited_user)
    assert client.get(reverse("patients:edit", kwargs={"pk": own.pk})).status_code == 200
