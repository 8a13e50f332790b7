"""Writes to the patient record that touch several rows; the search is patients.search."""

from django.db import connection, transaction
from django.db.models import Q, QuerySet, Subquery
from django.utils import timezone

from accounts.models import User
from patients.models import ConsentText, Intake, Patient, PatientConsent

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


@transaction.atomic
def consent_record(*, patient: Patient, consent_text: ConsentText, signed_name: str, by: User) -> PatientConsent:
    consent = PatientConsent(
        patient=patient,
        consent_text=consent_text,
        signed_name=" ".join(signed_name.split()),
        signed_at=timezone.now(),
        witnessed_by=by,
    )
    consent.full_clean()
    consent.save()
    return consent


@transaction.atomic
def consent_withdraw(*, consent: PatientConsent, by: User) -> None:
    consent.withdrawn_at = timezone.now()
    consent.save(update_fields=["withdrawn_at"])
