"""The database refuses impossible rows even when code bypasses the forms: the second line of defence."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from patients.models import ConsentGiven, ConsentText, Medication, Patient, PatientConsent
from tests.factories import ConsentTextFactory, PatientFactory


def refused_by_database(create) -> bool:
    """True when the database raises IntegrityError; the savepoint keeps the test's transaction usable."""
    try:
        with transaction.atomic():
            create()
    except IntegrityError:
        return True
    return False


def raw_patient(**fields) -> Patient:
    """A patient built without the form: nothing in Python checks the values."""
    values = {"clinic_number": "RAW-1", "given_name": "Raw", "family_name": "Row", "date_of_birth": date(1980, 1, 1)}
    return Patient(sex="female", **(values | fields))


@pytest.mark.parametrize(
    "born",
    [
        # Two days ahead: still in the future whatever the clinic's time zone is relative to the database's.
        pytest.param(lambda: timezone.localdate() + timedelta(days=2), id="future"),
        pytest.param(lambda: date(1899, 12, 31), id="before-1900"),
    ],
)
def test_patient_with_impossible_date_of_birth_is_refused_by_the_database(db, born):
    with pytest.raises(IntegrityError), transaction.atomic():
        raw_patient(date_of_birth=born()).save()
    assert not Patient.objects.filter(clinic_number="RAW-1").exists()


def test_patient_born_on_the_earliest_day_is_accepted_by_the_database(db):
    assert not refused_by_database(lambda: raw_patient(date_of_birth=date(1900, 1, 1)).save())


@pytest.mark.parametrize("field", ["given_name", "family_name", "clinic_number"])
def test_patient_with_blank_name_or_clinic_number_is_refused_by_the_database(db, field):
    assert refused_by_database(lambda: PatientFactory(**{field: ""}, intake=None))


def test_duplicate_clinic_number_is_refused_by_the_database(db):
    PatientFactory(clinic_number="PIT-000777")
    assert refused_by_database(lambda: PatientFactory(clinic_number="PIT-000777", intake=None))


def test_second_intake_for_one_patient_is_refused_by_the_database(db):
    patient = PatientFactory()
    assert refused_by_database(lambda: type(patient.intake).objects.create(patient=patient))


@pytest.mark.parametrize("doses", ["500", "100.5", "-1"])
def test_medication_with_doses_per_week_out_of_range_is_refused_by_the_database(db, doses):
    intake = PatientFactory().intake
    with pytest.raises(IntegrityError), transaction.atomic():
        Medication(intake=intake, drug="Ibuprofen", dose="200 mg", doses_per_week=Decimal(doses)).save()
    assert not Medication.objects.exists()


@pytest.mark.parametrize("doses", ["0", "100"])
def test_medication_with_doses_per_week_at_the_limits_is_accepted_by_the_database(db, doses):
    intake = PatientFactory().intake
    create = lambda: Medication.objects.create(  # noqa: E731
        intake=intake, drug="Ibuprofen", dose="200 mg", doses_per_week=Decimal(doses)
    )
    assert not refused_by_database(create)


def test_medication_without_a_drug_is_refused_by_the_database(db):
    intake = PatientFactory().intake
    assert refused_by_database(lambda: Medication.objects.create(intake=intake, drug="", dose="1", doses_per_week=1))


def test_second_consent_to_the_same_version_is_refused_by_the_database(clinician):
    patient = PatientFactory()
    text = ConsentText.objects.current()
    PatientConsent.objects.create(patient=patient, consent_text=text, signed_name="A B", witnessed_by=clinician)
    assert refused_by_database(
        lambda: PatientConsent.objects.create(
            patient=patient, consent_text=text, signed_name="A B", witnessed_by=clinician
        )
    )


def test_consent_again_after_withdrawal_is_accepted_by_the_database(clinician):
    patient = PatientFactory()
    text = ConsentText.objects.current()
    PatientConsent.objects.create(
        patient=patient,
        consent_text=text,
        signed_name="A B",
        witnessed_by=clinician,
        withdrawn_at=timezone.now(),
        withdrawn_via=ConsentGiven.DESK,
    )
    assert not refused_by_database(
        lambda: PatientConsent.objects.create(
            patient=patient, consent_text=text, signed_name="A B", witnessed_by=clinician
        )
    )


def test_consent_with_blank_signature_is_refused_by_the_database(clinician):
    patient = PatientFactory()
    text = ConsentText.objects.current()
    assert refused_by_database(
        lambda: PatientConsent.objects.create(
            patient=patient, consent_text=text, signed_name="", witnessed_by=clinician
        )
    )


@pytest.mark.parametrize(
    ("via", "witness", "own_sign_in", "refused"),
    [
        ("desk", True, False, False),
        ("desk", False, False, True),  # at the desk someone witnesses
        ("desk", True, True, True),
        ("portal", False, True, False),
        ("portal", False, False, True),  # in the portal the patient's own sign-in stands for them
        ("portal", True, True, True),
    ],
)
def test_a_consent_names_its_witness_or_the_patients_sign_in_by_how_it_was_signed(
    clinician, patient_user, via, witness, own_sign_in, refused
):
    patient = PatientFactory()
    fields = {
        "patient": patient,
        "consent_text": ConsentText.objects.current(),
        "signed_name": "A B",
        "signed_via": via,
        "witnessed_by": clinician if witness else None,
        "signed_by_user": patient_user if own_sign_in else None,
    }
    assert refused_by_database(lambda: PatientConsent.objects.create(**fields)) is refused


@pytest.mark.parametrize(
    ("withdrawn", "via", "reason", "refused"),
    [
        (False, "", "", False),
        (True, ConsentGiven.PORTAL, "", False),
        (True, ConsentGiven.DESK, "Moving abroad", False),
        (True, "", "", True),  # a withdrawal says how it was made
        (False, ConsentGiven.DESK, "", True),
        (False, "", "Moving abroad", True),  # no reason for a withdrawal that did not happen
    ],
)
def test_a_withdrawal_says_how_it_was_made(clinician, withdrawn, via, reason, refused):
    fields = {
        "patient": PatientFactory(),
        "consent_text": ConsentText.objects.current(),
        "signed_name": "A B",
        "witnessed_by": clinician,
        "withdrawn_at": timezone.now() if withdrawn else None,
        "withdrawn_via": via,
        "withdrawal_reason": reason,
    }
    assert refused_by_database(lambda: PatientConsent.objects.create(**fields)) is refused


@pytest.mark.parametrize("version", [0, 1])
def test_consent_text_with_version_zero_or_taken_is_refused_by_the_database(db, version):
    assert refused_by_database(lambda: ConsentTextFactory(version=version))


def test_two_accounts_with_one_email_in_different_case_are_refused_by_the_database(db):
    User.objects.create(username="first", email="Same@Example.org")
    assert refused_by_database(lambda: User.objects.create(username="second", email="same@example.org"))
    assert not refused_by_database(lambda: User.objects.create(username="third", email=""))
    assert not refused_by_database(lambda: User.objects.create(username="fourth", email=""))
