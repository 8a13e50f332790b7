"""Writes to the patient record that touch several rows, and the searches staff run."""

import re
from datetime import date, datetime
from functools import reduce

import phonenumbers
from django.conf import settings
from django.contrib.postgres.search import TrigramSimilarity
from django.db import connection, transaction
from django.db.models import F, Q, QuerySet, Subquery
from django.db.models.functions import Greatest
from django.db.models.lookups import PatternLookup
from django.utils import timezone

from accounts.models import User
from patients.models import ConsentText, Intake, Patient, PatientConsent

CLINIC_NUMBER_SEQUENCE = "patients_clinic_number_seq"
CLINIC_NUMBER_PREFIX = "PIT-"
# Each has a trigram index, so misspelt-name search stays an index scan.
NAME_FIELDS = ("family_name", "given_name", "preferred_name")
DATE_INPUT_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%d.%m.%Y", "%d-%m-%Y")


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


def _as_date(text: str) -> date | None:
    for fmt in DATE_INPUT_FORMATS:
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None


def _as_phone(text: str) -> phonenumbers.PhoneNumber | None:
    if len(re.sub(r"\D", "", text)) < 6:
        return None
    try:
        number = phonenumbers.parse(text, settings.PHONENUMBER_DEFAULT_REGION)
    except phonenumbers.NumberParseException:
        return None
    return number if phonenumbers.is_possible_number(number) else None


class ILikeContains(PatternLookup):
    """`column ILIKE '%word%'`: what icontains means, in the form a trigram index on the plain column serves.

    Django's own icontains compares UPPER(column), an expression no index on the column matches, so
    every search read the whole patients table.
    """

    lookup_name = "ilike_contains"

    def get_rhs_op(self, connection, rhs: str) -> str:
        return f"ILIKE {rhs}"


def _near(field: str, word: str) -> list[Q]:
    """The word is in, or is a near spelling of, this name: each answered by the name's trigram index."""
    return [
        Q(**{f"{field}__trigram_similar": word}),
        Q(**{f"{field}__trigram_word_similar": word}),
        Q(ILikeContains(F(field), word)),
    ]


def _ids_named(word: str) -> QuerySet:
    """Ids of patients with the word in, or near, one of their names.

    One SELECT per name and kind of match, joined by UNION, so each is a single index scan of that name's
    trigram index. With the conditions ORed in one WHERE, PostgreSQL read every patient instead: it prices a
    trigram comparison like an equality, so beside a few index scans (more for a long word, which has more
    trigrams) a sequential scan of tens of thousands of rows looked cheaper, and took 50 to 130 ms.
    """
    selects = [
        Patient.objects.filter(match).order_by().values("pk") for field in NAME_FIELDS for match in _near(field, word)
    ]
    return selects[0].union(*selects[1:])


def current_consent_text_id() -> Subquery:
    """The current consent text's id as a subquery (NULL while none is published), to filter by in SQL
    without a query of its own."""
    return Subquery(ConsentText.objects.filter(published_at__isnull=False).order_by("-version").values("pk")[:1])


def mark_consent_status(patients: list[Patient]) -> list[Patient]:
    """Set `has_valid_consent` on each of a page of patients, in one query.

    Not an EXISTS column of the search itself: there PostgreSQL worked it out by reading every valid consent
    in the clinic (a hashed subplan, as it must rank all the matches before taking a page), some 10 ms at
    100,000 patients; here it looks up the 25 shown.
    """
    consented = set(
        PatientConsent.objects.filter(
            patient__in=patients, consent_text=current_consent_text_id(), withdrawn_at__isnull=True
        ).values_list("patient_id", flat=True)
    )
    for patient in patients:
        patient.has_valid_consent = patient.pk in consented
    return patients


def patient_search(query: str) -> QuerySet[Patient]:
    """Patients matching a name (partial or misspelt), birth date, phone or clinic number."""
    query = " ".join(query.split())[:100]
    patients = Patient.objects.all()
    if not query:
        return patients.order_by("family_name", "given_name", "id")

    birth_date = _as_date(query)
    if birth_date:
        return patients.filter(date_of_birth=birth_date).order_by("family_name", "given_name", "id")

    # Every word must match one of the names: "anna smith" and "smith anna" alike.
    ids = reduce(lambda found, more: found.intersection(more), (_ids_named(word) for word in query.split()))
    ids = ids.union(Patient.objects.filter(clinic_number=query.upper()).order_by().values("pk"))
    phone = _as_phone(query)
    if phone:
        e164 = phonenumbers.format_number(phone, phonenumbers.PhoneNumberFormat.E164)
        ids = ids.union(Patient.objects.filter(phone=e164).order_by().values("pk"))
    similarity = Greatest(*(TrigramSimilarity(field, query) for field in NAME_FIELDS))
    return patients.filter(pk__in=ids).annotate(similarity=similarity).order_by("-similarity", "family_name", "id")


def valid_consent(patient: Patient, current: ConsentText | None = None) -> PatientConsent | None:
    """The patient's consent to the current consent text (pass it if already loaded), if given: one query."""
    consent_text = current or current_consent_text_id()
    return (
        patient.consents.filter(consent_text=consent_text, withdrawn_at__isnull=True)
        .select_related("consent_text", "witnessed_by")
        .first()
    )


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
