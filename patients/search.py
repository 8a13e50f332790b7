"""The patient search staff run: by name (partial or misspelt), birth date, phone or clinic number."""

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, TypedDict

import phonenumbers
from django.conf import settings
from django.contrib.postgres.expressions import ArraySubquery
from django.contrib.postgres.search import TrigramSimilarity
from django.core.paginator import Page, Paginator
from django.db.models import CharField, F, Prefetch, Q, QuerySet
from django.db.models.functions import Cast, Greatest
from django.db.models.lookups import PatternLookup

from patients.models import NAME_FIELDS, Intake, KnownName, NamesOf, Patient, PatientConsent
from patients.services import current_consent_text_id
from pit_portal.ids import parse_id

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations

    class ConsentStatus(TypedDict):
        has_valid_consent: bool

    PatientWithConsentStatus = WithAnnotations[Patient, ConsentStatus]

PATIENTS_PER_PAGE = 25
DATE_INPUT_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%d.%m.%Y", "%d-%m-%Y")


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


def _tidy(query: str) -> str:
    return " ".join(query.split())[:100]


# A word shorter than a trigram matches the names that start with it: anywhere in a name, it has no trigram for
# the index to look up, and every name would be read.
TRIGRAM = 3


@dataclass(frozen=True)
class Terms:
    """What a search by name, clinic number or phone looks for."""

    words: tuple[str, ...]
    phone: str | None  # the query read as a phone number, in E.164, when it reads as one
    short: tuple[bool, ...]  # for each word, whether it is shorter than a trigram

    @property
    def query(self) -> str:
        return " ".join(self.words)

    @classmethod
    def of(cls, query: str) -> "Terms | None":
        """The terms of a search; None for an empty query or a birth date, which are plain filters."""
        query = _tidy(query)
        if not query or _as_date(query):
            return None
        phone = _as_phone(query)
        e164 = phonenumbers.format_number(phone, phonenumbers.PhoneNumberFormat.E164) if phone else None
        words = tuple(query.split())
        return cls(words, e164, tuple(len(word) < TRIGRAM for word in words))


class ILikeContains(PatternLookup):
    """`column ILIKE '%word%'`: what icontains means, in the form a trigram index on the plain column serves
    (Django's own icontains compares UPPER(column), an expression no index on the column matches)."""

    lookup_name = "ilike_contains"

    def get_rhs_op(self, connection, rhs: str) -> str:
        return f"ILIKE {rhs}"


class ILikeStartsWith(ILikeContains):
    """`column ILIKE 'word%'`, which the trigram index answers from the trigrams of the name's start."""

    lookup_name = "ilike_starts_with"
    param_pattern = "%s%%"


def _near(word: str, short: bool) -> Q:
    """A known name with the word in it (for a short word: starting it), or a near spelling of it: each answered
    by the known names' trigram index."""
    written = ILikeStartsWith(F("name"), word) if short else ILikeContains(F("name"), word)
    return Q(name__trigram_similar=word) | Q(name__trigram_word_similar=word) | Q(written)


class NameSimilarity(TrigramSimilarity):
    """similarity(name, query), and for a name left empty 0, which is what similarity() gives it, without asking:
    most patients have no preferred name, and similarity() works out the query's trigrams for an empty name too."""

    def as_sql(self, compiler, connection, **extra_context):
        name_sql, name_params = compiler.compile(self.source_expressions[0])
        sql, params = super().as_sql(compiler, connection, **extra_context)
        return f"CASE WHEN {name_sql} = '' THEN 0 ELSE {sql} END", (*name_params, *params)


def _similarity(query: str) -> Greatest:
    """How near the query is to the patient's nearest name: what the results are ranked by."""
    return Greatest(*(NameSimilarity(field, query) for field in NAME_FIELDS))


def _named(word: str, short: bool) -> Q:
    """The patient has one of the known names the word matches: the patients whose own names match it.

    The word is compared with each distinct name on file once, rather than with every patient's three names,
    and the patients are looked up by the names found, in one index for all three."""
    known = KnownName.objects.filter(_near(word, short)).values("name")
    return Q(names__overlap=ArraySubquery(known))


def _matches(terms: Terms) -> Q:
    """The patients a search by name, clinic number or phone finds. One condition, so PostgreSQL answers it from
    the names' and the numbers' indexes together (a BitmapOr) without reading the table twice."""
    # Every word must match one of the names: "anna smith" and "smith anna" alike.
    found = Q(*(_named(word, short) for word, short in zip(terms.words, terms.short, strict=True)))
    found |= Q(clinic_number=terms.query.upper())
    if terms.phone:
        found |= Q(phone=terms.phone)
    return found


# --- Searching and paging ----------------------------------------------------------------------------------------

RANKING = ("-similarity", "family_name", "id")


def patient_search(query: str) -> QuerySet[Patient]:
    """Patients matching a name (partial or misspelt), birth date, phone or clinic number: the nearest names
    first for a name, alphabetical otherwise. Patients whose processing is restricted, or who were anonymised,
    are left out (patients.data_requests)."""
    query, terms = _tidy(query), Terms.of(query)
    patients = Patient.objects.processable()
    if terms is not None:
        found = patients.alias(names=NamesOf()).filter(_matches(terms))
        return found.annotate(similarity=_similarity(query)).order_by(*RANKING)
    birth_date = _as_date(query)
    if birth_date:
        patients = patients.filter(date_of_birth=birth_date)
    return patients.order_by("family_name", "given_name", "id")


def _valid_consents() -> QuerySet[PatientConsent]:
    """Unwithdrawn consents to the current consent text."""
    return PatientConsent.objects.filter(consent_text=current_consent_text_id(), withdrawn_at__isnull=True)


def mark_consent_status(patients: "list[PatientWithConsentStatus]") -> "list[PatientWithConsentStatus]":
    """Set `has_valid_consent` on each of a page of patients, in one query.

    Not an EXISTS column of the search itself: there PostgreSQL would read every valid consent in the clinic, as
    it must rank all the matches before taking a page; here it looks up only the patients shown.
    """
    consented = set(_valid_consents().filter(patient__in=patients).values_list("patient_id", flat=True))
    for patient in patients:
        patient.has_valid_consent = patient.pk in consented
    return patients


# What a results row shows of a patient and their intake (the precaution flags): the rest of the record, its
# emergency contact's and GP's phone numbers above all, stays unread. The patient's own number is read as the text
# stored (`phone_text`): read into a PhoneNumber, each is parsed (patients.templatetags.phone_numbers).
RESULT_FIELDS = ("clinic_number", "given_name", "family_name", "preferred_name", "date_of_birth")
INTAKE_FLAGS = (
    "patient_id", "infection_or_open_wound", "allergy_amide_local_anaesthetic", "allergy_corn_dextrose",
    "anticoagulant_or_bleeding_disorder", "pregnant_or_breastfeeding", "diabetes",
)  # fmt: skip


def as_result_rows(patients: QuerySet[Patient]) -> QuerySet[Patient]:
    """The patients with what a results row shows of them, and no more. The intakes are read for the page's
    patients only, after it is ranked and cut: joined to every match, they made PostgreSQL read all intakes."""
    intakes = Prefetch("intake", queryset=Intake.objects.only(*INTAKE_FLAGS))
    return patients.only(*RESULT_FIELDS).annotate(phone_text=Cast("phone", CharField())).prefetch_related(intakes)


def patient_search_page(query: str, number: str | int | None, per_page: int = PATIENTS_PER_PAGE) -> Page:
    """One page of patient_search(query), each patient with their intake and `has_valid_consent`: a page past
    the last shows the last, and one that is not a positive number the first."""
    page = Paginator(as_result_rows(patient_search(query)), per_page).get_page(parse_id(str(number or "")) or 1)
    page.object_list = mark_consent_status(list(page.object_list))
    return page
