"""Bad input on the patient form, both where it registers a patient and where it edits one.

Every refusal must name the field, leave the page usable (200 or 4xx) and save nothing.
"""

from datetime import date, timedelta
from html.parser import HTMLParser

import pytest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from patients.forms import PatientForm
from patients.models import Intake, Patient
from tests.escaping import shown_escaped
from tests.factories import PatientFactory

NEW_PATIENT = {
    "given_name": "Erin",
    "family_name": "Novak",
    "preferred_name": "",
    "date_of_birth": "1980-04-12",
    "sex": "female",
    "clinic_number": "",
    "phone": "+447900123456",
    "email": "erin.novak@example.org",
    "address_line1": "1 High Street",
    "address_line2": "",
    "town": "Leeds",
    "postcode": "LS1 1AA",
    "preferred_contact": "phone",
    "emergency_contact_name": "",
    "emergency_contact_relationship": "",
    "emergency_contact_phone": "",
    "gp_name": "",
    "gp_practice": "",
    "gp_phone": "",
    "gp_email": "",
}
SCRIPT = '<script>alert("owned")</script>'


def database_state() -> tuple:
    """Every patient row as stored, and the number of intakes: any save changes one of them."""
    return list(Patient.objects.order_by("pk").values()), Intake.objects.count()


def assert_refused(response, field: str, message: str) -> None:
    """The form came back with `message` on `field`, and the page shows it."""
    assert response.status_code == 200 or 400 <= response.status_code < 500
    errors = response.context["form"].errors.get(field, [])
    matching = [error for error in errors if message in error]
    assert matching, f"no error containing {message!r} on {field}: {errors}"
    assert escape(matching[0]) in response.content.decode()


def assert_accepted(response) -> None:
    """Saved and redirected; on a refusal, say which fields were refused."""
    form_errors = response.context["form"].errors if response.context and "form" in response.context else None
    assert response.status_code == 302, form_errors


class PatientFormPage:
    """The registration page, or the edit page of an existing patient, driven as front desk."""

    def __init__(self, client, url: str, data: dict, patient: Patient | None = None):
        self.client = client
        self.url = url
        self.data = data
        self.patient = patient

    @property
    def registers(self) -> bool:
        return self.patient is None

    def post(self, **overrides):
        return self.client.post(self.url, {**self.data, **overrides})

    def saved_patient(self) -> Patient:
        if self.registers:
            return Patient.objects.latest("pk")
        return Patient.objects.get(pk=self.patient.pk)


def edit_data(patient: Patient) -> dict:
    data = {}
    for name in PatientForm.Meta.fields:
        value = getattr(patient, name)
        data[name] = value.isoformat() if isinstance(value, date) else str(value or "")
    return data


@pytest.fixture(params=["register", "edit"])
def page(request, front_desk_client) -> PatientFormPage:
    if request.param == "register":
        return PatientFormPage(front_desk_client, reverse("patients:register"), dict(NEW_PATIENT))
    existing = PatientFactory(given_name="Frank", family_name="Osei", date_of_birth=date(1971, 6, 1))
    return PatientFormPage(
        front_desk_client, reverse("patients:edit", kwargs={"pk": existing.pk}), edit_data(existing), existing
    )


# --- the baseline: the unaltered data is accepted, so each refusal below is down to its one change -----


def test_valid_details_are_saved(page):
    before = database_state()
    response = page.post(town="York")
    assert_accepted(response)
    assert database_state() != before
    assert page.saved_patient().town == "York"


def test_registration_creates_the_intake_and_goes_on_to_it(front_desk_client, front_desk):
    response = front_desk_client.post(reverse("patients:register"), NEW_PATIENT)
    patient = Patient.objects.get(family_name="Novak")
    assert response.status_code == 302
    assert response["Location"] == reverse("patients:intake", kwargs={"pk": patient.pk})
    assert Intake.objects.filter(patient=patient).exists()
    assert patient.created_by == front_desk


def test_blank_clinic_number_is_assigned_the_next_one(front_desk_client):
    front_desk_client.post(reverse("patients:register"), {**NEW_PATIENT, "clinic_number": ""})
    number = Patient.objects.get(family_name="Novak").clinic_number
    assert number.startswith("PIT-")
    assert number[4:].isdigit()


def test_typed_clinic_number_is_kept_in_capitals(front_desk_client):
    front_desk_client.post(reverse("patients:register"), {**NEW_PATIENT, "clinic_number": " pit-42 "})
    assert Patient.objects.get(family_name="Novak").clinic_number == "PIT-42"


def test_date_of_birth_on_the_earliest_allowed_day_is_accepted(page):
    response = page.post(date_of_birth="1900-01-01")
    assert response.status_code == 302
    assert page.saved_patient().date_of_birth == date(1900, 1, 1)


# --- dates ----------------------------------------------------------------------------------------


def test_future_date_of_birth_is_refused(page):
    before = database_state()
    tomorrow = timezone.localdate() + timedelta(days=1)
    response = page.post(date_of_birth=tomorrow.isoformat())
    assert_refused(response, "date_of_birth", "cannot be in the future")
    assert database_state() == before


@pytest.mark.parametrize("impossible", ["2023-02-30", "2023-13-01", "2023-04-31", "1980-00-10", "yesterday"])
def test_impossible_date_of_birth_is_refused(page, impossible):
    before = database_state()
    response = page.post(date_of_birth=impossible)
    assert_refused(response, "date_of_birth", "Enter a valid date")
    assert database_state() == before


@pytest.mark.parametrize("too_early", ["1899-12-31", "1096-05-04"])
def test_date_of_birth_before_1900_is_refused(page, too_early):
    before = database_state()
    response = page.post(date_of_birth=too_early)
    assert_refused(response, "date_of_birth", "on or after 01/01/1900")
    assert database_state() == before


# --- text -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "limit"),
    [
        ("given_name", 100),
        ("family_name", 100),
        ("preferred_name", 100),
        ("address_line1", 200),
        ("address_line2", 200),
        ("town", 100),
        ("postcode", 12),
        ("emergency_contact_name", 200),
        ("emergency_contact_relationship", 60),
        ("gp_name", 200),
        ("gp_practice", 200),
    ],
)
def test_over_long_text_is_refused(page, field, limit):
    before = database_state()
    response = page.post(**{field: "x" * (limit + 1)})
    assert_refused(response, field, f"at most {limit} characters")
    assert database_state() == before


@pytest.mark.parametrize("field", ["given_name", "address_line1", "gp_name"])
def test_null_character_in_text_is_refused(page, field):
    before = database_state()
    response = page.post(**{field: "Er\x00in"})
    assert_refused(response, field, "Null characters are not allowed")
    assert database_state() == before


@pytest.mark.parametrize(
    "field",
    [
        "given_name",
        "family_name",
        "preferred_name",
        "address_line1",
        "address_line2",
        "town",
        "emergency_contact_name",
        "emergency_contact_relationship",
        "gp_name",
        "gp_practice",
    ],
)
def test_markup_in_text_is_stored_as_typed_and_escaped_on_output(page, field):
    # The rest of an address, a contact's relationship and the GP's practice show only beside the first part.
    shown = {"address_line1": "1 High Street", "emergency_contact_name": "Sam Novak", "gp_name": "Dr Shah"}
    response = page.post(**(shown | {field: SCRIPT}))
    assert response.status_code == 302
    patient = page.saved_patient()
    assert getattr(patient, field) == SCRIPT
    detail = page.client.get(reverse("patients:detail", kwargs={"pk": patient.pk})).content.decode()
    assert shown_escaped(SCRIPT, detail)
    assert SCRIPT not in detail


@pytest.mark.parametrize("field", ["given_name", "family_name", "preferred_name"])
def test_markup_in_a_name_is_escaped_in_the_patient_list(page, field):
    assert page.post(**{field: SCRIPT}).status_code == 302
    listing = page.client.get(reverse("patients:list")).content.decode()
    assert shown_escaped(SCRIPT, listing)
    assert SCRIPT not in listing


def test_markup_is_escaped_when_a_refused_form_is_shown_again(page):
    response = page.post(given_name=SCRIPT, date_of_birth="2023-02-30")
    page_text = response.content.decode()
    assert response.status_code == 200
    assert escape(SCRIPT) in page_text
    assert SCRIPT not in page_text


# --- phone and email ------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["phone", "emergency_contact_phone", "gp_phone"])
@pytest.mark.parametrize("malformed", ["12", "call me", "07911-12345", "+4479111234567", "+99 123 456 7890", "0" * 40])
def test_malformed_phone_is_refused(page, field, malformed):
    before = database_state()
    response = page.post(**{field: malformed})
    assert_refused(response, field, "Enter a valid phone number")
    assert database_state() == before


@pytest.mark.parametrize("field", ["email", "gp_email"])
@pytest.mark.parametrize("malformed", ["erin@", "erin.example.org", "erin@@example.org", "erin novak@example.org"])
def test_malformed_email_is_refused(page, field, malformed):
    before = database_state()
    response = page.post(**{field: malformed})
    assert_refused(response, field, "Enter a valid email address")
    assert database_state() == before


@pytest.mark.parametrize(("method", "field"), [("email", "email"), ("sms", "phone"), ("phone", "phone")])
def test_preferred_contact_method_without_its_detail_is_refused(page, method, field):
    before = database_state()
    response = page.post(preferred_contact=method, **{field: ""})
    assert_refused(response, field, f"Needed for the preferred contact method ({method})")
    assert database_state() == before


def test_preferred_contact_by_post_needs_neither_phone_nor_email(page):
    response = page.post(preferred_contact="post", phone="", email="")
    assert response.status_code == 302


# --- clinic number --------------------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["PIT-000777", "pit-000777", "  Pit-000777  "])
def test_clinic_number_of_another_patient_is_refused(page, typed):
    PatientFactory(clinic_number="PIT-000777")
    before = database_state()
    response = page.post(clinic_number=typed)
    assert_refused(response, "clinic_number", "Another patient already has this clinic number")
    assert database_state() == before


@pytest.mark.parametrize("typed", ["PIT 42", "PIT_42", "PIT/42", "-PIT42", "ПИТ-42", "<b>42</b>", "PIT-42;DROP"])
def test_clinic_number_with_invalid_characters_is_refused(page, typed):
    before = database_state()
    response = page.post(clinic_number=typed)
    assert_refused(response, "clinic_number", "Use letters, digits and hyphens only")
    assert database_state() == before


def test_over_long_clinic_number_is_refused(page):
    before = database_state()
    response = page.post(clinic_number="P" * 21)
    assert_refused(response, "clinic_number", "at most 20 characters")
    assert database_state() == before


def test_clearing_the_clinic_number_on_edit_keeps_a_number(front_desk_client):
    patient = PatientFactory(clinic_number="PIT-000555")
    url = reverse("patients:edit", kwargs={"pk": patient.pk})
    response = front_desk_client.post(url, {**edit_data(patient), "clinic_number": ""})
    assert response.status_code in (200, 302)
    patient.refresh_from_db()
    assert patient.clinic_number != ""


# --- required fields and choices ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "blank"),
    [
        ("given_name", ""),
        ("given_name", "   "),
        ("family_name", ""),
        ("family_name", " \t "),
        ("date_of_birth", ""),
        ("sex", ""),
    ],
)
def test_missing_required_field_is_refused(page, field, blank):
    before = database_state()
    response = page.post(**{field: blank})
    assert_refused(response, field, "This field is required")
    assert database_state() == before


@pytest.mark.parametrize(("field", "value"), [("sex", "robot"), ("preferred_contact", "pigeon")])
def test_value_outside_the_choices_is_refused(page, field, value):
    before = database_state()
    response = page.post(**{field: value})
    assert_refused(response, field, "Select a valid choice")
    assert database_state() == before


# --- likely duplicates ----------------------------------------------------------------------------


@pytest.fixture
def register(front_desk_client):
    def post(**overrides):
        return front_desk_client.post(reverse("patients:register"), {**NEW_PATIENT, **overrides})

    return post


@pytest.mark.parametrize(
    ("existing", "typed"),
    [
        pytest.param(
            {"given_name": "Erin", "family_name": "Novak", "date_of_birth": date(1980, 4, 12)},
            {"given_name": " erin ", "family_name": "NOVAK"},
            id="same-name-and-date-of-birth",
        ),
        pytest.param({"phone": "+447900123456"}, {"phone": "07900 123456"}, id="same-phone"),
        pytest.param({"email": "Erin.Novak@Example.org"}, {"email": "erin.novak@example.org"}, id="same-email"),
    ],
)
def test_likely_duplicate_is_shown_and_nothing_is_saved(register, existing, typed):
    match = PatientFactory(**existing)
    before = database_state()
    response = register(**typed)
    assert response.status_code == 200
    assert list(response.context["duplicates"]) == [match]
    page_text = response.content.decode()
    assert "This patient may already be registered" in page_text
    assert reverse("patients:detail", kwargs={"pk": match.pk}) in page_text
    assert database_state() == before


def test_likely_duplicate_is_saved_once_the_user_confirms(register):
    PatientFactory(given_name="Erin", family_name="Novak", date_of_birth=date(1980, 4, 12))
    assert register().status_code == 200
    count = Patient.objects.count()
    response = register(not_a_duplicate="on")
    assert response.status_code == 302
    assert Patient.objects.count() == count + 1


def test_people_sharing_only_a_name_are_not_flagged(register):
    PatientFactory(given_name="Erin", family_name="Novak", date_of_birth=date(1991, 1, 1))
    response = register()
    assert response.status_code == 302


class BrowserForm(HTMLParser):
    """What a browser submits from the page's form that holds `submitter`: fields in page order."""

    def __init__(self, html: str, submitter: str):
        super().__init__()
        self.submitter = submitter
        self.forms: list[list[tuple[str, str, str]]] = []
        self._form = None
        self._select = None
        self._textarea = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self._form = []
            self.forms.append(self._form)
        elif self._form is None or ("name" not in attrs and tag != "option"):
            return
        elif tag == "button" or (tag == "input" and attrs.get("type") in ("submit", "image")):
            self._form.append(("button", attrs["name"], attrs.get("value") or ""))
        elif tag == "input" and attrs.get("type") in ("checkbox", "radio"):
            if "checked" in attrs:
                self._form.append(("field", attrs["name"], attrs.get("value") or "on"))
        elif tag == "input":
            self._form.append(("field", attrs["name"], attrs.get("value") or ""))
        elif tag == "select":
            self._select = [attrs["name"], None, None]
        elif tag == "option" and self._select is not None:
            value = attrs.get("value") or ""
            if self._select[1] is None:
                self._select[1] = value
            if "selected" in attrs:
                self._select[2] = value
        elif tag == "textarea":
            self._textarea = [attrs["name"], ""]

    def handle_data(self, data):
        if self._textarea is not None:
            self._textarea[1] += data

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "select" and self._select is not None:
            name, first, selected = self._select
            self._form.append(("field", name, selected if selected is not None else first or ""))
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            self._form.append(("field", *self._textarea))
            self._textarea = None

    def submission(self) -> dict[str, list[str]]:
        (form,) = [form for form in self.forms if ("button", self.submitter) in {entry[:2] for entry in form}]
        data: dict[str, list[str]] = {}
        for kind, name, value in form:
            if kind == "field" or name == self.submitter:
                data.setdefault(name, []).append(value)
        return data


def test_register_anyway_button_on_the_warning_saves_the_patient(front_desk_client, register):
    PatientFactory(given_name="Erin", family_name="Novak", date_of_birth=date(1980, 4, 12))
    warning = register()
    count = Patient.objects.count()
    submitted = BrowserForm(warning.content.decode(), submitter="not_a_duplicate").submission()
    response = front_desk_client.post(reverse("patients:register"), submitted)
    assert response.status_code == 302
    assert Patient.objects.count() == count + 1


def test_markup_in_a_name_is_escaped_in_the_confirmation_message(front_desk_client):
    response = front_desk_client.post(reverse("patients:register"), {**NEW_PATIENT, "given_name": SCRIPT}, follow=True)
    page = response.content.decode()
    assert f"{escape(SCRIPT)} Novak registered as" in page
    assert SCRIPT not in page


@pytest.mark.parametrize("field", ["phone", "emergency_contact_phone", "gp_phone"])
def test_letters_in_a_phone_number_are_refused(page, field):
    before = database_state()
    response = page.post(**{field: "+44 7911 abc 123"})
    assert_refused(response, field, "Use digits only")
    assert database_state() == before
