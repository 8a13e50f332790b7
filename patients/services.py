"""Writes to the patient record that touch several rows; the search is patients.search."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F, Q, QuerySet, Subquery
from django.utils import timezone

from accounts.models import User
from patients.models import ConsentGiven, ConsentText, Intake, Patient, PatientConsent
from pit_portal.outbox.models import EmailKind
from pit_portal.outbox.services import email_owe

CLINIC_NUMBER_SEQUENCE = "patients_clinic_number_seq"
CLINIC_NUMBER_PREFIX = "PIT-"


def next_clinic_number() -> str:
    """The next free generated number; skips any typed in by hand that took its place."""
    with connection.cursor() as cursor:
        while True:
            cursor.execute("SELECT nextval(%s)", [CLINIC_NUMBER_SEQUENCE])
            candidate = f"{CLINIC_NUMBER_PREFIX}{cursor.fetchone()[0]:06d}"
            if not Patient.objects.filter(clinic_number=candidate).exists():
                return candidate


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


def likely_duplicates(patient: Patient) -> QuerySet[Patient]:
    """Existing patients who may be the same person: same name and birth date, or same phone or email."""
    same_person = Q(
        given_name__iexact=patient.given_name.strip(),
        family_name__iexact=patient.family_name.strip(),
        date_of_birth=patient.date_of_birth,
    )
    if patient.phone:
        same_person |= Q(phone=patient.phone)
    if patient.email:
        same_person |= Q(email__iexact=patient.email.strip())
    return Patient.objects.filter(same_person).exclude(pk=patient.pk).order_by("family_name", "given_name")[:10]


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
