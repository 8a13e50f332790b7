"""Bad input on the medical background (intake) form and its medication rows; the save is all or nothing."""

from decimal import Decimal

import pytest
from django.db import IntegrityError
from django.forms.models import model_to_dict
from django.urls import reverse
from django.utils.html import escape

from patients.models import Condition, Medication
from tests.escaping import shown_escaped
from tests.factories import PatientFactory

FLAGS = (
    "allergy_amide_local_anaesthetic",
    "allergy_corn_dextrose",
    "anticoagulant_or_bleeding_disorder",
    "diabetes",
    "pregnant_or_breastfeeding",
    "infection_or_open_wound",
)
SCRIPT = '<script>alert("owned")</script>'
PARACETAMOL = {"drug": "Paracetamol", "dose": "500 mg", "doses_per_week": "14", "is_analgesic": True}
IBUPROFEN = {"drug": "Ibuprofen", "dose": "200 mg", "doses_per_week": "7"}


@pytest.fixture
def intake(db):
    return PatientFactory(given_name="Erin", family_name="Novak").intake


@pytest.fixture
def url(intake) -> str:
    return reverse("patients:intake", kwargs={"pk": intake.patient_id})


def condition(code: str) -> Condition:
    return Condition.objects.get(code=code)


def intake_data(intake, *, conditions=(), medications=(), **fields) -> dict:
    """The form as a browser posts it: ticked boxes only, then the medication rows (existing ones first)."""
    data = {"other_condition": "", "other_allergies": "", "infection_details": "", "notes": ""}
    data["conditions"] = [c.pk for c in conditions]
    for flag in FLAGS:
        if fields.pop(flag, False):
            data[flag] = "on"
    data.update(fields)
    rows = list(medications)
    data["medications-TOTAL_FORMS"] = str(len(rows))
    data["medications-INITIAL_FORMS"] = str(sum(1 for row in rows if row.get("id")))
    data["medications-MIN_NUM_FORMS"] = "0"
    data["medications-MAX_NUM_FORMS"] = "30"
    for index, row in enumerate(rows):
        row = {"id": "", "intake": str(intake.pk), "drug": "", "dose": "", "doses_per_week": "", **row}
        for name, value in row.items():
            if name in ("is_analgesic", "DELETE"):
                if value:
                    data[f"medications-{index}-{name}"] = "on"
            else:
                data[f"medications-{index}-{name}"] = str(value)
    return data


def saved_state(intake) -> tuple:
    """The intake as stored, with its conditions and medication rows."""
    intake.refresh_from_db()
    fields = model_to_dict(intake)
    fields["conditions"] = sorted(c.pk for c in fields["conditions"])
    return fields, list(Medication.objects.order_by("pk").values())


def assert_refused(response, field: str, message: str) -> None:
    assert response.status_code == 200 or 400 <= response.status_code < 500
    errors = response.context["form"].errors.get(field, [])
    matching = [error for error in errors if message in error]
    assert matching, f"no error containing {message!r} on {field}: {errors}"
    assert escape(matching[0]) in response.content.decode()


def assert_row_refused(response, row: int, field: str, message: str) -> None:
    assert response.status_code == 200 or 400 <= response.status_code < 500
    errors = response.context["medications"].forms[row].errors.get(field, [])
    matching = [error for error in errors if message in error]
    assert matching, f"no error containing {message!r} on row {row} {field}: {errors}"
    assert escape(matching[0]) in response.content.decode()


# --- the baseline ---------------------------------------------------------------------------------


def test_medical_background_is_saved(front_desk_client, front_desk, intake, url):
    data = intake_data(
        intake,
        conditions=[condition("osteoarthritis")],
        medications=[PARACETAMOL],
        diabetes=True,
        notes="Knee pain for two years.",
    )
    response = front_desk_client.post(url, data)
    assert response.status_code == 302
    intake.refresh_from_db()
    assert intake.diabetes
    assert intake.notes == "Knee pain for two years."
    assert intake.updated_by == front_desk
    assert [c.code for c in intake.conditions.all()] == ["osteoarthritis"]
    assert list(intake.medications.values_list("drug", "is_analgesic")) == [("Paracetamol", True)]


def test_without_consent_the_next_step_is_consent(front_desk_client, intake, url):
    response = front_desk_client.post(url, intake_data(intake))
    assert response["Location"] == reverse("patients:consent", kwargs={"pk": intake.patient_id})


def test_medication_row_can_be_changed_and_removed(front_desk_client, intake, url):
    kept = Medication.objects.create(intake=intake, drug="Paracetamol", dose="500 mg", doses_per_week=14)
    dropped = Medication.objects.create(intake=intake, drug="Ibuprofen", dose="200 mg", doses_per_week=7)
    rows = [
        {"id": kept.pk, "drug": "Paracetamol", "dose": "1 g", "doses_per_week": "7"},
        {"id": dropped.pk, "drug": "Ibuprofen", "dose": "200 mg", "doses_per_week": "7", "DELETE": True},
    ]
    response = front_desk_client.post(url, intake_data(intake, medications=rows))
    assert response.status_code == 302
    assert list(intake.medications.values_list("pk", "dose")) == [(kept.pk, "1 g")]


@pytest.mark.parametrize("doses", ["0", "0.5", "100"])
def test_doses_per_week_at_the_limits_are_accepted(front_desk_client, intake, url, doses):
    response = front_desk_client.post(url, intake_data(intake, medications=[{**IBUPROFEN, "doses_per_week": doses}]))
    assert response.status_code == 302
    assert intake.medications.get().doses_per_week == Decimal(doses)


# --- medication rows ------------------------------------------------------------------------------


@pytest.mark.parametrize("doses", ["-1", "101", "100.5", "-0.5"])
def test_doses_per_week_out_of_range_is_refused(front_desk_client, intake, url, doses):
    before = saved_state(intake)
    response = front_desk_client.post(url, intake_data(intake, medications=[{**IBUPROFEN, "doses_per_week": doses}]))
    assert_row_refused(response, 0, "doses_per_week", "Between 0 and 100 doses a week")
    assert saved_state(intake) == before


@pytest.mark.parametrize("doses", ["twice", "1e3", "NaN"])
def test_doses_per_week_that_is_not_a_number_is_refused(front_desk_client, intake, url, doses):
    before = saved_state(intake)
    response = front_desk_client.post(url, intake_data(intake, medications=[{**IBUPROFEN, "doses_per_week": doses}]))
    assert response.status_code == 200
    assert response.context["medications"].forms[0].errors["doses_per_week"]
    assert saved_state(intake) == before


@pytest.mark.parametrize("missing", ["drug", "dose", "doses_per_week"])
def test_medication_row_missing_a_detail_is_refused(front_desk_client, intake, url, missing):
    before = saved_state(intake)
    response = front_desk_client.post(url, intake_data(intake, medications=[{**IBUPROFEN, missing: ""}]))
    assert_row_refused(response, 0, missing, "This field is required")
    assert saved_state(intake) == before


@pytest.mark.parametrize(("field", "limit"), [("drug", 120), ("dose", 60)])
def test_over_long_medication_text_is_refused(front_desk_client, intake, url, field, limit):
    before = saved_state(intake)
    response = front_desk_client.post(url, intake_data(intake, medications=[{**IBUPROFEN, field: "x" * (limit + 1)}]))
    assert_row_refused(response, 0, field, f"at most {limit} characters")
    assert saved_state(intake) == before


def test_medication_rows_over_the_maximum_are_refused(front_desk_client, intake, url):
    before = saved_state(intake)
    rows = [{**IBUPROFEN, "drug": f"Drug {n}"} for n in range(31)]
    response = front_desk_client.post(url, intake_data(intake, medications=rows))
    assert response.status_code == 200
    errors = response.context["medications"].non_form_errors()
    assert any("at most 30" in error for error in errors)
    assert escape(errors[0]) in response.content.decode()
    assert saved_state(intake) == before


def test_medication_row_of_another_patient_cannot_be_edited_through_this_form(front_desk_client, intake, url):
    others = PatientFactory().intake
    theirs = Medication.objects.create(intake=others, drug="Warfarin", dose="5 mg", doses_per_week=7)
    row = {"id": theirs.pk, "drug": "Aspirin", "dose": "75 mg", "doses_per_week": "7"}
    response = front_desk_client.post(url, intake_data(intake, medications=[row]))
    assert response.status_code in (200, 302)
    theirs.refresh_from_db()
    assert (theirs.intake_id, theirs.drug, theirs.dose) == (others.pk, "Warfarin", "5 mg")
    assert not Medication.objects.filter(drug="Aspirin").exists()


# --- the intake form itself -----------------------------------------------------------------------


@pytest.mark.parametrize("named", ["", "   "])
def test_other_condition_ticked_without_naming_it_is_refused(front_desk_client, intake, url, named):
    before = saved_state(intake)
    data = intake_data(intake, conditions=[condition("other")], other_condition=named)
    response = front_desk_client.post(url, data)
    assert_refused(response, "other_condition", "Name the condition when you tick")
    assert saved_state(intake) == before


def test_other_condition_named_is_saved_and_shown(front_desk_client, intake, url):
    data = intake_data(intake, conditions=[condition("other")], other_condition="Morton's neuroma")
    assert front_desk_client.post(url, data).status_code == 302
    detail = front_desk_client.get(reverse("patients:detail", kwargs={"pk": intake.patient_id}))
    assert shown_escaped("Other: Morton's neuroma", detail.content.decode())


@pytest.mark.parametrize("details", ["", "  "])
def test_infection_flag_without_details_is_refused(front_desk_client, intake, url, details):
    before = saved_state(intake)
    data = intake_data(intake, infection_or_open_wound=True, infection_details=details)
    response = front_desk_client.post(url, data)
    assert_refused(response, "infection_details", "Say where the infection or wound is")
    assert saved_state(intake) == before


def test_condition_no_longer_offered_is_refused(front_desk_client, intake, url):
    retired = condition("tendinitis")
    Condition.objects.filter(pk=retired.pk).update(active=False)
    before = saved_state(intake)
    response = front_desk_client.post(url, intake_data(intake, conditions=[retired]))
    assert_refused(response, "conditions", "Select a valid choice")
    assert saved_state(intake) == before


@pytest.mark.parametrize(
    ("field", "limit"),
    [("other_condition", 200), ("other_allergies", 500), ("infection_details", 500), ("notes", 2000)],
)
def test_over_long_intake_text_is_refused(front_desk_client, intake, url, field, limit):
    before = saved_state(intake)
    extra = {"infection_or_open_wound": True, "infection_details": "left knee"} if field == "infection_details" else {}
    response = front_desk_client.post(url, intake_data(intake, **{**extra, field: "x" * (limit + 1)}))
    assert_refused(response, field, f"at most {limit} characters")
    assert saved_state(intake) == before


@pytest.mark.parametrize("field", ["other_condition", "other_allergies", "infection_details", "notes"])
def test_markup_in_intake_text_is_stored_as_typed_and_escaped_on_output(front_desk_client, intake, url, field):
    # "Other" and the infection flag are ticked so that their text is shown.
    shown = {"other_condition": "Morton's neuroma", "infection_or_open_wound": True, "infection_details": "left knee"}
    data = intake_data(intake, conditions=[condition("other")], **(shown | {field: SCRIPT}))
    assert front_desk_client.post(url, data).status_code == 302
    intake.refresh_from_db()
    assert getattr(intake, field) == SCRIPT
    detail = front_desk_client.get(reverse("patients:detail", kwargs={"pk": intake.patient_id})).content.decode()
    assert shown_escaped(SCRIPT, detail)
    assert SCRIPT not in detail


@pytest.mark.parametrize("field", ["drug", "dose"])
def test_markup_in_a_medication_is_stored_as_typed_and_escaped_on_output(front_desk_client, intake, url, field):
    assert (
        front_desk_client.post(url, intake_data(intake, medications=[{**IBUPROFEN, field: SCRIPT}])).status_code == 302
    )
    assert getattr(intake.medications.get(), field) == SCRIPT
    detail = front_desk_client.get(reverse("patients:detail", kwargs={"pk": intake.patient_id})).content.decode()
    assert shown_escaped(SCRIPT, detail)
    assert SCRIPT not in detail


# --- all or nothing -------------------------------------------------------------------------------


def test_bad_medication_row_saves_nothing_of_the_intake(front_desk_client, intake, url):
    before = saved_state(intake)
    data = intake_data(
        intake,
        conditions=[condition("osteoarthritis")],
        medications=[PARACETAMOL, {**IBUPROFEN, "doses_per_week": "101"}],
        diabetes=True,
        notes="Knee pain for two years.",
    )
    response = front_desk_client.post(url, data)
    assert_row_refused(response, 1, "doses_per_week", "Between 0 and 100 doses a week")
    assert saved_state(intake) == before


def test_medication_row_refused_by_the_database_saves_nothing_of_the_intake(
    front_desk_client, intake, url, monkeypatch
):
    """A failure half way through the save (here the second row) rolls back the intake and the first row."""
    real_save = Medication.save
    saves = []

    def save_then_fail(self, *args, **kwargs):
        saves.append(self.drug)
        if len(saves) == 2:
            raise IntegrityError("the database refused the row")
        return real_save(self, *args, **kwargs)

    monkeypatch.setattr(Medication, "save", save_then_fail)
    before = saved_state(intake)
    data = intake_data(
        intake,
        conditions=[condition("osteoarthritis")],
        medications=[PARACETAMOL, IBUPROFEN],
        diabetes=True,
        notes="Knee pain for two years.",
    )
    with pytest.raises(IntegrityError):
        front_desk_client.post(url, data)
    assert len(saves) == 2
    assert saved_state(intake) == before
