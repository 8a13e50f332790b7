"""Writes to the patient record that touch several rows; the search is patients.search."""

from collections import defaultdict
from collections.abc import Sequence

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F, Q, QuerySet, Subquery
from django.db.models.functions import Lower
from django.utils import timezone
from phonenumber_field.phonenumber import PhoneNumber

from accounts.models import User
from patients.models import ConsentGiven, ConsentText, Intake, Patient, PatientConsent
from pit_portal.outbox.models import EmailKind
from pit_portal.outbox.services import email_owe

CLINIC_NUMBER_SEQUENCE = "patients_clinic_number_seq"
CLINIC_NUMBER_PREFIX = "PIT-"


def next_clinic_numbers(count: int) -> list[str]:
    """`count` free generated numbers, in two queries however many: skips any typed in by hand that took the
    place of one (an import registers thousands at once)."""
    numbers: list[str] = []
    with connection.cursor() as cursor:
        while len(numbers) < count:
            cursor.execute(
                "SELECT nextval(%s) FROM generate_series(1, %s)", [CLINIC_NUMBER_SEQUENCE, count - len(numbers)]
            )
            candidates = [f"{CLINIC_NUMBER_PREFIX}{value:06d}" for (value,) in cursor.fetchall()]
            taken = set(Patient.objects.filter(clinic_number__in=candidates).values_list("clinic_number", flat=True))
            numbers += [number for number in candidates if number not in taken]
    return numbers


def next_clinic_number() -> str:
    """The next free generated number; skips any typed in by hand that took its place."""
    return next_clinic_numbers(1)[0]


@transaction.atomic
def patient_register(*, patient: Patient, by: User) -> Patient:
    """Save a new patient with an empty intake, assigning a clinic number if none was typed."""
    if not patient.clinic_number:
        patient.clinic_number = next_clinic_number()
    patient.created_by = by
    patient.full_clean()
    patient.save()
    Intake.objects.create(patient=patient, updated_by=by)
    return patient


# Why a patient may be someone already registered, in the words a member of staff is shown.
SAME_NAME_AND_BIRTH_DATE = "same name and date of birth"
SAME_PHONE = "same phone number"
SAME_EMAIL = "same email address"
REASONS = (SAME_NAME_AND_BIRTH_DATE, SAME_PHONE, SAME_EMAIL)
MATCH_KEY_FIELDS = ("pk", "clinic_number", "given_name", "family_name", "date_of_birth", "phone", "email")


def identity_keys(patient: Patient) -> set[tuple]:
    """What makes two patients possibly the same person, the one rule registration and the CSV import share: the
    same given and family name (whatever the case and outer spaces) and birth date, or the same phone, or the same
    email (whatever the case). Two patients may be the same person when their keys meet; each key's first item
    says why."""
    keys: set[tuple] = {
        (SAME_NAME_AND_BIRTH_DATE, patient.given_name.strip().casefold(), patient.family_name.strip().casefold(),
         patient.date_of_birth),
    }  # fmt: skip
    phone = _phone_key(patient.phone)
    if phone:
        keys.add((SAME_PHONE, phone))
    if patient.email:
        keys.add((SAME_EMAIL, patient.email.strip().casefold()))
    return keys


def _phone_key(phone) -> str:
    # As stored (E.164), without asking whether the number is valid again: thousands of times, that is slow.
    return phone.as_e164 if isinstance(phone, PhoneNumber) else str(phone or "")


def _who_may_match(patients: Sequence[Patient]) -> QuerySet[Patient]:
    """Every registered patient who could share a key with one of `patients`, from the birth date, phone and email
    indexes: a few more than match (a shared birthday), never fewer."""
    born = {patient.date_of_birth for patient in patients}
    phones = {key for patient in patients if (key := _phone_key(patient.phone))}
    emails = {patient.email.strip().casefold() for patient in patients if patient.email}
    return (
        Patient.objects.alias(email_ci=Lower("email"))
        .filter(Q(date_of_birth__in=born) | Q(phone__in=phones) | Q(email_ci__in=emails))
        .only(*MATCH_KEY_FIELDS)
    )


# Patients looked up together: a query's lists stay a few thousand values long.
MATCH_BATCH = 2000


def registered_duplicates(patients: Sequence[Patient]) -> list[list[tuple[Patient, str]]]:
    """For each of `patients` (registered or not), the registered patients who may be the same person by
    identity_keys, each with why, in the patient list's order: one query per MATCH_BATCH patients, however many."""
    found: list[list[tuple[Patient, str]]] = []
    for start in range(0, len(patients), MATCH_BATCH):
        batch = patients[start : start + MATCH_BATCH]
        by_key: dict[tuple, list[Patient]] = defaultdict(list)
        for registered in _who_may_match(batch):
            for key in identity_keys(registered):
                by_key[key].append(registered)
        for patient in batch:
            matches: dict[int, tuple[Patient, str]] = {}
            for key in sorted(identity_keys(patient), key=lambda key: REASONS.index(key[0])):
                for registered in by_key.get(key, []):
                    if registered.pk != patient.pk:
                        matches.setdefault(registered.pk, (registered, key[0]))
            found.append(sorted(matches.values(), key=lambda match: _by_name(match[0])))
    return found


def _by_name(patient: Patient) -> tuple:
    return (patient.family_name, patient.given_name, patient.pk)


def likely_duplicates(patient: Patient) -> list[Patient]:
    """Existing patients who may be the same person (identity_keys), by name, at most ten."""
    return [registered for registered, _ in registered_duplicates([patient])[0][:10]]


def current_consent_text_id() -> Subquery:
    """The current consent text's id as a subquery (NULL while none is published), to filter by in SQL
    without a query of its own."""
    return Subquery(ConsentText.objects.filter(published_at__isnull=False).order_by("-version").values("pk")[:1])


def _valid_consents(patient_id) -> QuerySet[PatientConsent]:
    # At most one row: one unwithdrawn consent per patient and consent text (consent_once_per_text_version).
    return PatientConsent.objects.filter(
        patient_id=patient_id, consent_text=current_consent_text_id(), withdrawn_at__isnull=True
    )


def valid_consent_id(patient_id) -> Subquery:
    """The id of the patient's consent to the current consent text (NULL without one), as a subquery: for a
    query that reads the patient's rows anyway (OuterRef("patient_id")) to answer it too."""
    return Subquery(_valid_consents(patient_id).values("pk")[:1])


def valid_consent(patient: Patient) -> PatientConsent | None:
    """The patient's consent to the current consent text, if given: one query."""
    return _valid_consents(patient.pk).select_related("consent_text", "witnessed_by").first()


def newest_consent(patient: Patient) -> PatientConsent | None:
    """The patient's newest consent to the current consent text, valid or withdrawn, in one query: the valid one
    if there is one (`withdrawn_at` None), else the last withdrawn, whose date and manner staff are told of."""
    return (
        PatientConsent.objects.filter(patient_id=patient.pk, consent_text=current_consent_text_id())
        .order_by(F("withdrawn_at").desc(nulls_first=True))
        .only("pk", "signed_at", "withdrawn_at", "withdrawn_via")
        .first()
    )


def _lock_patient(patient: Patient) -> None:
    # Signing and withdrawing for one patient wait for each other, so two at once cannot both pass the check.
    Patient.objects.select_for_update().filter(pk=patient.pk).values_list("pk").get()


@transaction.atomic
def consent_record(
    *,
    patient: Patient,
    consent_text: ConsentText,
    signed_name: str,
    by: User,
    via: ConsentGiven = ConsentGiven.DESK,
) -> PatientConsent:
    """Record the patient's consent to `consent_text`. At the desk `by` is the member of staff who witnessed it;
    in the portal `by` is the patient's own sign-in. Refused (ValidationError, code "already_signed") while the
    patient's consent to the current text is valid, so nothing is saved twice."""
    _lock_patient(patient)
    if valid_consent(patient) is not None:
        raise ValidationError(f"Consent to version {consent_text.version} is already on file.", code="already_signed")
    consent = PatientConsent(
        patient=patient,
        consent_text=consent_text,
        signed_name=" ".join(signed_name.split()),
        signed_at=timezone.now(),
        signed_via=via,
        witnessed_by=by if via == ConsentGiven.DESK else None,
        signed_by_user=by if via == ConsentGiven.PORTAL else None,
    )
    consent.full_clean()
    consent.save()
    return consent


@transaction.atomic
def consent_withdraw(*, patient: Patient, via: ConsentGiven, reason: str = "") -> PatientConsent:
    """Withdraw the patient's consent to the current consent text, from now: new session notes are refused at
    once (they need a valid consent), and the clinic is emailed. Refused (ValidationError, code
    "nothing_to_withdraw") when there is no valid consent, so withdrawing twice changes nothing.

    Who withdrew it (the patient, or the member of staff at the desk) is in the change history, which records
    the signed-in user of the request with each change."""
    _lock_patient(patient)
    consent = _valid_consents(patient.pk).select_related("consent_text").select_for_update(of=("self",)).first()
    if consent is None:
        raise ValidationError("There is no valid consent to withdraw.", code="nothing_to_withdraw")
    consent.withdrawn_at = timezone.now()
    consent.withdrawn_via = via
    consent.withdrawal_reason = " ".join(reason.split())
    consent.full_clean()
    consent.save(update_fields=["withdrawn_at", "withdrawn_via", "withdrawal_reason"])
    if settings.CLINIC_EMAIL:
        email_owe(kind=EmailKind.CONSENT_WITHDRAWN, object_id=consent.pk)
    return consent


def consent_audit_detail(consent: PatientConsent, *, withdrawn: bool = False) -> dict:
    """The audit event's detail for a consent signed or withdrawn: the version and the manner (desk or portal),
    never the typed name or the reason."""
    via = consent.withdrawn_via if withdrawn else consent.signed_via
    return {"consent_text_version": consent.consent_text.version, "via": via}
