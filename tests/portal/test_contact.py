"""The patient keeps their own contact details up to date, with the front desk's checks."""

import re

import pytest
from django.urls import reverse

from tests.factories import UserFactory

URL = "portal:contact"
VALID = {
    "phone": "07911 123457",
    "email": "charlie.day@example.net",
    "address_line1": "12 Harbour Row",
    "address_line2": "",
    "town": "Bristol",
    "postcode": "BS1 4RN",
    "preferred_contact": "email",
}


def test_patient_updates_contact_details_and_sign_in_email_follows(patient_client, patient, patient_user):
    assert patient_client.get(reverse(URL)).status_code == 200
    response = patient_client.post(reverse(URL), VALID)
    assert response.status_code == 302
    patient.refresh_from_db()
    patient_user.refresh_from_db()
    assert patient.phone.as_e164 == "+447911123457"
    assert (patient.email, patient.town, patient.preferred_contact) == ("charlie.day@example.net", "Bristol", "email")
    assert patient_user.email == "charlie.day@example.net"


@pytest.mark.parametrize(
    ("changes", "field_message"),
    [
        ({"phone": "07911 12ADGJ"}, "Use digits only"),
        ({"phone": "12"}, "Enter a valid phone number"),
        ({"email": "charlie@"}, "Enter a valid email address."),
        ({"email": "", "preferred_contact": "email"}, "Needed for the preferred contact method (email)."),
        ({"preferred_contact": "carrier-pigeon"}, "Select a valid choice."),
    ],
)
def test_bad_contact_details_are_refused_and_nothing_saved(patient_client, patient, changes, field_message):
    before = (patient.phone, patient.email)
    response = patient_client.post(reverse(URL), {**VALID, **changes})
    assert response.status_code == 400
    assert field_message in response.content.decode()
    patient.refresh_from_db()
    assert (patient.phone, patient.email) == before


def without_csrf(content: bytes) -> bytes:
    return re.sub(rb'("X-CSRFToken": "|name="csrfmiddlewaretoken" value=")[^"]*', rb"\1", content)


def test_an_address_another_account_uses_gets_the_same_answer_as_any_other(patient_client, patient, patient_user):
    """The answer must not tell whether someone has an account: the record keeps the address the patient wrote,
    and only the sign-in's address, which must stay unique, is left as it was."""
    someone = UserFactory(username="someone", email="taken@example.org")
    fresh = patient_client.post(reverse(URL), {**VALID, "email": "fresh@example.org"})
    fresh_page = patient_client.get(fresh["Location"])
    taken = patient_client.post(reverse(URL), {**VALID, "email": "Taken@example.org"})
    taken_page = patient_client.get(taken["Location"])
    assert (taken.status_code, taken["Location"]) == (fresh.status_code, fresh["Location"]) == (302, reverse(URL))
    assert without_csrf(taken_page.content).replace(b"Taken@example.org", b"fresh@example.org") == without_csrf(
        fresh_page.content
    )
    patient.refresh_from_db()
    patient_user.refresh_from_db()
    someone.refresh_from_db()
    assert patient.email == "Taken@example.org"
    assert patient_user.email == "fresh@example.org"
    assert someone.email == "taken@example.org"


def test_other_record_fields_cannot_be_changed_here(patient_client, patient):
    patient_client.post(reverse(URL), {**VALID, "given_name": "Mallory", "clinic_number": "X-1", "gp_name": "Dr Who"})
    patient.refresh_from_db()
    assert (patient.given_name, patient.gp_name) == ("Charlie", "")
    assert patient.clinic_number != "X-1"
