import pytest
from django.urls import reverse

from patients import services
from tests.factories import PatientFactory

# session, user, second-factor device, roles and permissions, count, one page of patients, their consent status
QUERIES_FOR_LIST = 7


@pytest.mark.parametrize(
    "query",
    ["Smyth", "smith", "Smiht", "Anna Smith", "smith anna", "Ann"],
)
def test_search_finds_patient_by_partial_or_misspelt_name(db, query):
    anna = PatientFactory(given_name="Anna", family_name="Smith")
    PatientFactory(given_name="Tomasz", family_name="Kowalski")
    assert anna in services.patient_search(query)


def test_search_does_not_match_unrelated_names(db):
    anna = PatientFactory(given_name="Anna", family_name="Smith")
    PatientFactory(given_name="Tomasz", family_name="Kowalski")
    assert list(services.patient_search("Smyth")) == [anna]


def test_search_by_date_of_birth_in_either_format(db):
    anna = PatientFactory(date_of_birth="1975-09-03")
    PatientFactory(date_of_birth="1975-09-04")
    assert list(services.patient_search("1975-09-03")) == [anna]
    assert list(services.patient_search("03/09/1975")) == [anna]


def test_search_by_phone_ignores_formatting(db):
    anna = PatientFactory(phone="+447911123402")
    assert list(services.patient_search("07911 123402")) == [anna]
    assert list(services.patient_search("+44 7911 123 402")) == [anna]


def test_search_by_clinic_number_is_case_insensitive(db):
    anna = PatientFactory(clinic_number="PIT-000042")
    assert list(services.patient_search("pit-000042")) == [anna]


def test_patient_list_runs_a_fixed_number_of_queries(front_desk_client, django_assert_num_queries):
    url = reverse("patients:list")
    PatientFactory.create_batch(3)
    with django_assert_num_queries(QUERIES_FOR_LIST) as few:
        assert front_desk_client.get(url).status_code == 200
    PatientFactory.create_batch(30)
    with django_assert_num_queries(len(few.captured_queries)):
        response = front_desk_client.get(url)
    assert len(response.context["page"].object_list) == 25
