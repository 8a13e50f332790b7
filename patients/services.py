"""Writes to the patient record that touch several rows, and the searches staff run."""

import re
from collections.abc import Callable
from datetime import date, datetime
from functools import reduce

import phonenumbers
from django.conf import settings
from django.contrib.postgres.search import TrigramSimilarity
from django.core.paginator import Page, Paginator
from django.db import connection, transaction
from django.db.models import F, Q, QuerySet, Subquery
from django.db.models.functions import Greatest
from django.db.models.lookups import PatternLookup
from django.utils import timezone

from accounts.models import User
from patients.models import ConsentText, Intake, Patient, PatientConsent
from pit_portal.prepared import PreparedQuery

CLINIC_NUMBER_SEQUENCE = "patients_clinic_number_seq"
CLINIC_NUMBER_PREFIX = "PIT-"
# Each has a trigram index, so misspelt-name search stays an index scan.
NAME_FIELDS = ("family_name", "given_name", "preferred_name")
PATIENTS_PER_PAGE = 25
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


def _similarity(query: str) -> Greatest:
    """How near the query is to the patient's nearest name: what the results are ranked by."""
    return Greatest(*(TrigramSimilarity(field, query) for field in NAME_FIELDS))


def _ranked_rows(query: str) -> Callable[[QuerySet], QuerySet]:
    """The rows a search ranks: id, family name and similarity, the same columns in every part of the union."""
    return lambda patients: patients.annotate(similarity=_similarity(query)).values("pk", "family_name", "similarity")


def _ids(patients: QuerySet) -> QuerySet:
    return patients.values("pk")


def _named(word: str, select: Callable[[QuerySet], QuerySet]) -> QuerySet:
    """Patients with the word in, or near, one of their names.

    One SELECT per name and kind of match, joined by UNION, so each is a single index scan of that name's
    trigram index. With the conditions ORed in one WHERE, PostgreSQL read every patient instead: it prices a
    trigram comparison like an equality, so beside a few index scans (more for a long word, which has more
    trigrams) a sequential scan of tens of thousands of rows looked cheaper, and took 50 to 130 ms.
    `select` picks the columns: the ids, or the rows to rank (each part then ranks the rows its index scan has
    read: joined back to the patients table afterwards, PostgreSQL read the whole table again to rank a few
    hundred matches).
    """
    matching = (Patient.objects.filter(match).order_by() for field in NAME_FIELDS for match in _near(field, word))
    selects = [select(patients) for patients in matching]
    return selects[0].union(*selects[1:])


def _name_matches(query: str, select: Callable[[QuerySet], QuerySet]) -> QuerySet | None:
    """The matches of a search by name, clinic number or phone, as `select` shapes them; None for an empty
    query or a birth date, which are plain filters."""
    if not query or _as_date(query):
        return None
    # Every word must match one of the names: "anna smith" and "smith anna" alike.
    found = reduce(lambda found, more: found.intersection(more), (_named(word, select) for word in query.split()))
    found = found.union(select(Patient.objects.filter(clinic_number=query.upper()).order_by()))
    phone = _as_phone(query)
    if phone:
        e164 = phonenumbers.format_number(phone, phonenumbers.PhoneNumberFormat.E164)
        found = found.union(select(Patient.objects.filter(phone=e164).order_by()))
    return found


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


def name_matches(query: str) -> QuerySet | None:
    """The rows a search by name, clinic number or phone ranks (id, family name, similarity); None for an
    empty query or a birth date."""
    query = _tidy(query)
    return _name_matches(query, _ranked_rows(query))


def _tidy(query: str) -> str:
    return " ".join(query.split())[:100]


# The nearest names first; ranked_page_sql orders the same way.
RANKING = ("-similarity", "family_name", "id")


def patient_search(query: str) -> QuerySet[Patient]:
    """Patients matching a name (partial or misspelt), birth date, phone or clinic number: the nearest names
    first for a name, alphabetical otherwise."""
    query = _tidy(query)
    patients = Patient.objects.all()
    ids = _name_matches(query, _ids)
    if ids is not None:
        return patients.filter(pk__in=ids).annotate(similarity=_similarity(query)).order_by(*RANKING)
    birth_date = _as_date(query)
    if birth_date:
        patients = patients.filter(date_of_birth=birth_date)
    return patients.order_by("family_name", "given_name", "id")


# What a results row shows of a patient and their intake (the precaution flags): the rest of the record, its
# emergency contact's and GP's phone numbers above all (each parsed as it is read), stays unread.
RESULT_FIELDS = (
    "clinic_number", "given_name", "family_name", "preferred_name", "date_of_birth", "phone",
    "intake__infection_or_open_wound", "intake__allergy_amide_local_anaesthetic", "intake__allergy_corn_dextrose",
    "intake__anticoagulant_or_bleeding_disorder", "intake__pregnant_or_breastfeeding", "intake__diabetes",
)  # fmt: skip


def patient_search_page(query: str, number: str | int | None, per_page: int = PATIENTS_PER_PAGE) -> Page:
    """One page of patient_search(query), each patient with their intake.

    A search by name is ranked and counted in one query over its matches alone (the count as a window over
    them) and the page's patients read by id; counting and paging the full search each read the matches and
    the patients table again."""
    query = _tidy(query)
    matches = name_matches(query)
    if matches is None:
        return Paginator(patient_search(query).select_related("intake"), per_page).get_page(number)
    wanted = int(number) if str(number or "").isdigit() and int(number) > 0 else 1
    ids, total = _ranked_ids(matches, wanted, per_page)
    if total is None:  # past the last page: count, and show the last one
        total = matches.count()
        ids, _ = _ranked_ids(matches, max(1, -(-total // per_page)), per_page)
    page = Paginator(range(total), per_page).get_page(wanted)
    found = Patient.objects.select_related("intake").only(*RESULT_FIELDS).in_bulk(ids)
    page.object_list = [found[pk] for pk in ids if pk in found]
    return page


def ranked_page_sql(matches: QuerySet, number: int, per_page: int) -> tuple[str, list]:
    """SQL for the ids on page `number` of the ranked matches, each row with the number of matches in all."""
    sql, params = matches.query.sql_with_params()
    # The ORM's own SQL for the matches, ranked and counted around it; ORDER BY follows RANKING.
    ranked = (
        f"SELECT pk, count(*) OVER () FROM ({sql}) AS matches"  # noqa: S608
        " ORDER BY similarity DESC, family_name, pk LIMIT %s OFFSET %s"
    )
    return ranked, [*params, per_page, (number - 1) * per_page]


def _ranked_ids(matches: QuerySet, number: int, per_page: int) -> tuple[list[int], int | None]:
    """The ids on page `number` of the ranked matches, and how many matches there are in all (None when the
    page is past the end, so no row carried the count)."""
    with connection.cursor() as cursor:
        cursor.execute(*ranked_page_sql(matches, number, per_page))
        rows = cursor.fetchall()
    return [pk for pk, _ in rows], (rows[0][1] if rows else (0 if number == 1 else None))


def _valid_consent(patient_id: int) -> QuerySet[PatientConsent]:
    # At most one row: one unwithdrawn consent per patient and consent text (consent_once_per_text_version).
    return PatientConsent.objects.filter(
        patient_id=patient_id, consent_text=current_consent_text_id(), withdrawn_at__isnull=True
    ).select_related("consent_text", "witnessed_by")


# Asked by every session save and session form: compiled once (pit_portal.prepared).
VALID_CONSENT = PreparedQuery(_valid_consent)


def valid_consent(patient: Patient) -> PatientConsent | None:
    """The patient's consent to the current consent text, if given: one query."""
    return next(iter(VALID_CONSENT.objects(patient.pk)), None)


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
