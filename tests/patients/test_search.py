import pytest
from django.urls import reverse

from patients import search
from patients.models import Patient
from tests.factories import PatientFactory

# session, user, second-factor device, roles and permissions, count, one page of patients, their consent status
QUERIES_FOR_LIST = 7


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


def test_a_name_search_ranks_and_counts_in_one_query_and_reads_the_page_in_another(
    whitakers, django_assert_num_queries
):
    with django_assert_num_queries(2):
        page = search.patient_search_page("Whitakr", 2, per_page=4)
        assert len(page.object_list) == 4 and page.paginator.count == len(whitakers)


# --- The ranked matches' SQL, compiled once for each shape of search ------------------------------------------


@pytest.mark.parametrize(
    "query",
    ["Whitakr", "anna  whitaker", "50%_off\\", "o'brien-smith", "a b c d", "Le", "jo 5%", "07911 123402", "PIT-000001"],
)
def test_a_search_compiled_for_its_shape_sends_what_the_orm_builds_for_it(db, query):
    terms = search.Terms.of(query)
    sql, params = search.name_matches(terms).query.sql_with_params()
    assert search.name_matches_sql(terms) == (sql, list(params))


def test_a_phone_number_is_a_shape_of_its_own(db):
    with_phone, without = search.Terms.of("07911 123402"), search.Terms.of("anna smith")
    assert with_phone.phone == "+447911123402" and without.phone is None
    assert search.name_matches_sql(with_phone)[0] != search.name_matches_sql(without)[0]


def test_a_parameter_not_worked_out_from_the_terms_is_refused(db, monkeypatch):
    monkeypatch.setattr(search, "name_matches", lambda terms: Patient.objects.filter(family_name="Fixed"))
    with pytest.raises(ValueError, match="not worked out from its terms"):
        search.compiled_matches.__wrapped__((False,), False)


def test_like_wildcards_in_a_search_match_themselves(db):
    underscored = PatientFactory(family_name="Smith_Jones")
    PatientFactory(family_name="SmithXJones")
    page = search.patient_search_page("h_J", 1)
    assert page.object_list == [underscored]


def test_a_page_holds_at_most_what_the_results_query_reads(db):
    with pytest.raises(ValueError, match="at most 25"):
        search.patient_search_page("Whitakr", 1, per_page=26)


def test_a_word_shorter_than_a_trigram_matches_names_that_start_with_it(db):
    lee = PatientFactory(given_name="Tom", family_name="Lee")
    leah = PatientFactory(given_name="Leah", family_name="Brown")
    PatientFactory(given_name="Ellen", family_name="Wheeler")  # "le" inside, not at the start
    assert set(search.patient_search("Le")) == {lee, leah}
    assert search.Terms.of("Le smith").short == (True, False)


def test_a_short_word_is_a_shape_of_its_own(db):
    _, short = search.name_matches_sql(search.Terms.of("Le"))
    _, longer = search.name_matches_sql(search.Terms.of("Lee"))
    assert "Le%" in short and "%Le%" not in short
    assert "%Lee%" in longer and "Lee%" not in longer
