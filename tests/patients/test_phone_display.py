import pytest
from django.urls import reverse
from phonenumber_field.phonenumber import PhoneNumber

from patients.templatetags.phone_numbers import phone
from tests.factories import PatientFactory


@pytest.mark.parametrize(
    ("stored", "shown"),
    [("+447911123402", "+44 7911 123402"), ("+12025550123", "+1 202-555-0123"), ("+447700900123", "+44 7700 900123")],
)
def test_a_stored_number_is_shown_in_international_form(stored, shown):
    assert phone(PhoneNumber.from_string(stored)) == shown
    assert phone(stored) == shown  # read as the text stored, as the search results read it
    assert phone(stored) == shown  # and again, remembered


def test_stored_text_that_is_not_a_number_is_shown_as_it_is():
    assert phone("not a number") == "not a number"


@pytest.mark.parametrize("empty", [None, ""])
def test_no_number_is_shown_as_nothing(empty):
    assert phone(empty) == ""


def test_the_search_results_and_patient_page_show_the_formatted_number(front_desk_client, clinician_client):
    patient = PatientFactory(family_name="Whitaker", phone="+447911123402", gp_name="Dr Lee", gp_phone="+441632960001")
    results = front_desk_client.get(reverse("patients:list"), {"q": "Whitaker"}).content.decode()
    assert "<td>+44 7911 123402</td>" in results
    page = clinician_client.get(reverse("patients:detail", args=[patient.pk])).content.decode()
    assert "+44 7911 123402" in page and "+44 1632 960001" in page


def test_the_search_results_read_the_number_as_text_not_as_a_phone_number(front_desk_client):
    PatientFactory(family_name="Whitaker", phone="+447911123402")
    for query in ("Whitaker", ""):  # a ranked name search, and the plain list
        shown = front_desk_client.get(reverse("patients:list"), {"q": query}).context["page"].object_list
        assert [patient.phone_text for patient in shown] == ["+447911123402"]
        assert all("phone" in patient.get_deferred_fields() for patient in shown)
