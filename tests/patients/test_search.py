import random

import pytest
from django.contrib.postgres.search import TrigramSimilarity
from django.db import connection
from django.db.models import Q
from django.db.models.functions import Greatest
from django.urls import reverse

from patients import search
from patients.models import NAME_FIELDS, KnownName, Patient
from tests.factories import PatientFactory

# session, user, second-factor device, roles and permissions, count, one page of patients, their intakes, their
# consent status
QUERIES_FOR_LIST = 8


@pytest.mark.parametrize(
    "query",
    ["Smyth", "smith", "Smiht", "Anna Smith", "smith anna", "Ann"],
)
def test_search_finds_patient_by_partial_or_misspelt_name(db, query):
    anna = PatientFactory(given_name="Anna", family_name="Smith")
    PatientFactory(given_name="Tomasz", family_name="Kowalski")
    assert anna in search.patient_search(query)


def test_search_does_not_match_unrelated_names(db):
    anna = PatientFactory(given_name="Anna", family_name="Smith")
    PatientFactory(given_name="Tomasz", family_name="Kowalski")
    assert list(search.patient_search("Smyth")) == [anna]


def test_search_by_date_of_birth_in_either_format(db):
    anna = PatientFactory(date_of_birth="1975-09-03")
    PatientFactory(date_of_birth="1975-09-04")
    assert list(search.patient_search("1975-09-03")) == [anna]
    assert list(search.patient_search("03/09/1975")) == [anna]


def test_search_by_phone_ignores_formatting(db):
    anna = PatientFactory(phone="+447911123402")
    assert list(search.patient_search("07911 123402")) == [anna]
    assert list(search.patient_search("+44 7911 123 402")) == [anna]


def test_search_by_clinic_number_is_case_insensitive(db):
    anna = PatientFactory(clinic_number="PIT-000042")
    assert list(search.patient_search("pit-000042")) == [anna]


def test_patient_list_runs_a_fixed_number_of_queries(front_desk_client, django_assert_num_queries):
    url = reverse("patients:list")
    PatientFactory.create_batch(3)
    with django_assert_num_queries(QUERIES_FOR_LIST) as few:
        assert front_desk_client.get(url).status_code == 200
    PatientFactory.create_batch(30)
    with django_assert_num_queries(len(few.captured_queries)):
        response = front_desk_client.get(url)
    assert len(response.context["page"].object_list) == 25


# --- One page of a search, as the patient list shows it ------------------------------------------------------


@pytest.fixture
def whitakers(db):
    """Eleven near matches for "Whitakr", of differing nearness, and two patients who do not match."""
    names = ["Whitaker"] * 5 + ["Whittaker"] * 3 + ["Whitaker-Jones", "Whitakers", "Whitacre"]
    patients = [PatientFactory(family_name=name) for name in names]
    PatientFactory.create_batch(2, family_name="Kowalski")
    return patients


@pytest.mark.parametrize("query", ["Whitakr", "whitaker", "Whitakr Anna", "PIT-000001"])
def test_each_search_page_shows_the_ranked_searchs_patients_in_order(whitakers, query):
    ranked = list(search.patient_search(query))
    first = search.patient_search_page(query, 1, per_page=4)
    pages = [first] + [search.patient_search_page(query, n, per_page=4) for n in first.paginator.page_range[1:]]
    assert [patient for page in pages for patient in page.object_list] == ranked
    assert {page.paginator.count for page in pages} == {len(ranked)}
    assert all(page.object_list[0].intake is not None for page in pages if page.object_list)


def test_a_name_search_counts_every_match(whitakers):
    page = search.patient_search_page("Whitakr", 1, per_page=4)
    assert page.paginator.count == len(whitakers)
    assert page.paginator.num_pages == 3 and page.has_next()


@pytest.mark.parametrize("asked", ["99", "4"])
def test_a_page_past_the_end_shows_the_last_one(whitakers, asked):
    page = search.patient_search_page("Whitakr", asked, per_page=4)
    assert page.number == 3
    assert page.object_list == list(search.patient_search("Whitakr"))[8:]


@pytest.mark.parametrize("asked", [None, "", "two", "-1", "0"])
def test_a_page_that_is_not_a_positive_number_shows_the_first(whitakers, asked):
    page = search.patient_search_page("Whitakr", asked, per_page=4)
    assert page.number == 1
    assert page.object_list == list(search.patient_search("Whitakr"))[:4]


def test_a_search_with_no_match_is_an_empty_first_page(whitakers):
    page = search.patient_search_page("Zzyzx", "3", per_page=4)
    assert (page.number, page.paginator.count, page.object_list) == (1, 0, [])


def test_a_name_search_page_is_counted_read_and_marked_in_four_queries(whitakers, django_assert_num_queries):
    with django_assert_num_queries(4):  # the count, the page, its patients' intakes, and which have consented
        page = search.patient_search_page("Whitakr", 2, per_page=4)
        assert len(page.object_list) == 4 and page.paginator.count == len(whitakers)


def test_like_wildcards_in_a_search_match_themselves(db):
    underscored = PatientFactory(family_name="Smith_Jones")
    PatientFactory(family_name="SmithXJones")
    page = search.patient_search_page("h_J", 1)
    assert page.object_list == [underscored]


def test_a_word_shorter_than_a_trigram_matches_names_that_start_with_it(db):
    lee = PatientFactory(given_name="Tom", family_name="Lee")
    leah = PatientFactory(given_name="Leah", family_name="Brown")
    PatientFactory(given_name="Ellen", family_name="Wheeler")  # "le" inside, not at the start
    assert set(search.patient_search("Le")) == {lee, leah}
    assert search.Terms.of("Le smith").short == (True, False)


# --- The known names a search matches words against --------------------------------------------------------------


def _known() -> set[str]:
    return set(KnownName.objects.values_list("name", flat=True))


def test_a_new_patient_s_names_become_known(db):
    PatientFactory(given_name="Anna", family_name="Whitaker", preferred_name="")
    PatientFactory(given_name="Robert", family_name="Whitaker", preferred_name="Bob")
    assert _known() == {"Anna", "Whitaker", "Robert", "Bob"}


def test_a_renamed_patient_s_new_name_becomes_known_and_the_old_one_stays(db):
    anna = PatientFactory(given_name="Anna", family_name="Whitaker")
    Patient.objects.filter(pk=anna.pk).update(family_name="Okafor")  # a bulk update, as a trigger sees it too
    assert _known() == {"Anna", "Whitaker", "Okafor"}
    assert list(search.patient_search("Okafr")) == [anna]
    assert list(search.patient_search("Whitaker")) == []


def test_names_written_in_raw_sql_become_known(db):
    copied = PatientFactory()
    columns = [field.column for field in Patient._meta.concrete_fields if not field.primary_key]
    written = {"clinic_number": "'RAW-1'", "given_name": "'Siobhan'", "family_name": "'Ng'", "user_id": "NULL"}
    values = ", ".join(written.get(column, column) for column in columns)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO patients_patient ({', '.join(columns)}) SELECT {values} FROM patients_patient WHERE id = %s",  # noqa: S608
            [copied.pk],
        )
    assert {"Siobhan", "Ng"} <= _known()
    assert [patient.clinic_number for patient in search.patient_search("Siobhn")] == ["RAW-1"]


def _matching_their_own_names(word: str) -> set[int]:
    """The patients a word matches, decided on their own three names, as the search did before it had a
    vocabulary: what the search through the known names must find."""
    short = len(word) < search.TRIGRAM
    written = "istartswith" if short else "icontains"
    found = Q()
    for field in NAME_FIELDS:
        found |= Q(**{f"{field}__trigram_similar": word, f"{field}__trigram_word_similar": word}, _connector=Q.OR)
        found |= Q(**{f"{field}__{written}": word})
    return set(Patient.objects.filter(found).values_list("pk", flat=True))


@pytest.fixture
def clinic_of_names(db):
    rng = random.Random(7)
    given = ["Anna", "Ann", "Hannah", "Joanna", "Jo", "John", "Johan", "Leah", "Lee", "Ellen", "Bob", "Robert", "Siân"]
    family = ["Harris", "Morris", "Norris", "Harrison", "Parris", "Smith", "Smyth", "Le", "Lee", "Leigh", "O'Brien",
              "Whitaker", "Whittaker", "Kowalski", "Nguyen", "Smith_Jones"]  # fmt: skip
    for _ in range(120):
        PatientFactory(
            given_name=rng.choice(given),
            family_name=rng.choice(family),
            preferred_name=rng.choice(["", "", "", *given]),
        )
    # Renamed after registration: only the new names are theirs.
    Patient.objects.filter(pk__in=Patient.objects.order_by("pk").values("pk")[:10]).update(family_name="Harries")


@pytest.mark.parametrize(
    "word",
    ["Hrris", "harris", "Morris", "Smiht", "Smith", "Le", "Jo", "an", "Johnn", "obrien", "O'Brien", "h_J", "Sian"],
)
def test_a_word_finds_exactly_the_patients_whose_own_names_match_it(clinic_of_names, word):
    found = {patient.pk for patient in search.patient_search(word)}
    assert found == _matching_their_own_names(word)


def test_every_word_of_a_search_must_match_one_of_the_patient_s_names(clinic_of_names):
    found = {patient.pk for patient in search.patient_search("anna hrris")}
    assert found and found == _matching_their_own_names("anna") & _matching_their_own_names("hrris")


def test_a_word_is_looked_up_in_the_known_names_trigram_index(db):
    """pg_trgm declares its comparisons as cheap as an equality, and PostgreSQL then compared a word with each of
    a few hundred known names rather than use their index (migration 0006 tells it what they cost)."""
    rng = random.Random(3)
    letters = "abcdefghijklmnopqrstuvwxyz"
    invented = {"".join(rng.choice(letters) for _ in range(rng.randint(4, 9))).title() for _ in range(700)}
    KnownName.objects.bulk_create(KnownName(name=name) for name in invented)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE patients_knownname")
    plan = search.patient_search("Hrris").explain()
    assert "Bitmap Index Scan on knownname_trgm" in plan


@pytest.mark.parametrize("word", ["Ann", "Jo", "Leah", "Hanna", "Robrt"])
def test_the_patients_with_the_nearest_name_come_first_preferred_names_included(clinic_of_names, word):
    nearest = Greatest(*(TrigramSimilarity(field, word) for field in NAME_FIELDS))
    ranked = (
        Patient.objects.filter(pk__in=_matching_their_own_names(word))
        .annotate(nearness=nearest)
        .order_by("-nearness", "family_name", "id")
        .values_list("pk", flat=True)
    )
    assert any(Patient.objects.filter(pk__in=ranked, preferred_name__trigram_similar=word))  # they count here
    page = search.patient_search_page(word, 1)
    assert [patient.pk for patient in page.object_list] == list(ranked[: search.PATIENTS_PER_PAGE])
