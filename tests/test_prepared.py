"""pit_portal.prepared: a query compiled once answers each new value as the queryset itself would."""

from datetime import date, datetime, timedelta

import pytest
from django.contrib.auth.models import Group
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from pit_portal.prepared import PreparedQuery
from scheduling.models import Appointment, TimeOff
from tests.scheduling.factories import AppointmentFactory, TimeOffFactory, at, tomorrow


def test_a_query_that_does_not_take_its_value_as_a_parameter_is_refused(db):
    everything = PreparedQuery(lambda _value: Group.objects.values_list("name"))
    with pytest.raises(ValueError, match="parameter of its own"):
        everything.rows(1)


def test_the_number_of_values_is_checked(db):
    named = PreparedQuery(lambda group_id: Group.objects.filter(pk=group_id).values_list("name"))
    with pytest.raises(TypeError):
        named.rows(1, 2)
    group = Group.objects.create(name="Example")
    assert named.rows(group.pk) == [("Example",)]
    assert named.rows(group.pk + 1000) == []


# --- Prepared in PostgreSQL, once per connection -------------------------------------------------------------


def _prepared_here(query: PreparedQuery) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_prepared_statements WHERE name = %s", [query._compiled.name])
        return cursor.fetchone() is not None


def _named_group() -> PreparedQuery:
    return PreparedQuery(lambda group_id: Group.objects.filter(pk=group_id, name__startswith="E").values_list("name"))


def test_a_query_is_prepared_on_first_use_and_then_only_executed(db):
    group = Group.objects.create(name="Example")
    named = _named_group()
    with CaptureQueriesContext(connection) as first:
        assert named.rows(group.pk) == [("Example",)]
    assert _prepared_here(named)
    with CaptureQueriesContext(connection) as second:
        assert named.rows(group.pk) == [("Example",)]
    # One query each time: the PREPARE is the connection's set-up, not one of the page's queries.
    assert [query["sql"] for query in first] == [query["sql"] for query in second]
    assert second[0]["sql"].startswith(f"EXECUTE {named._compiled.name}")


def test_the_other_values_of_the_query_are_written_into_the_statement(db):
    Group.objects.create(name="Example")
    outsider = Group.objects.create(name="Outsider")  # does not start with E: the LIKE pattern is in the statement
    assert _named_group().rows(outsider.pk) == []


@pytest.mark.django_db(transaction=True)  # closes its connection: no test transaction around it
def test_a_prepared_query_survives_a_rollback_and_a_new_connection():
    group = Group.objects.create(name="Example")
    named = _named_group()
    with pytest.raises(RuntimeError), transaction.atomic():
        assert named.rows(group.pk) == [("Example",)]
        raise RuntimeError("roll back")
    assert named.rows(group.pk) == [("Example",)]  # the statement outlived the transaction
    connection.close()
    assert named.rows(group.pk) == [("Example",)]  # a new connection prepares it again
    assert _prepared_here(named)


def test_a_query_of_no_values_is_prepared_too(db):
    Group.objects.create(name="Example")
    every_e = PreparedQuery(lambda: Group.objects.filter(name__startswith="E").values_list("name"), arity=0)
    assert every_e.rows() == [("Example",)]
    assert _prepared_here(every_e)
    Group.objects.create(name="Evening")
    assert sorted(every_e.rows()) == [("Evening",), ("Example",)]


# --- Values other than ids: days, times of day, moments ------------------------------------------------------


def _time_off_on(day, clinician_id):
    return TimeOff.objects.filter(starts_on__lte=day, ends_on__gte=day, clinician_id=clinician_id).values_list("pk")


def _starting_between(after, before):
    return Appointment.objects.filter(starts_at__gte=after, starts_at__lt=before).order_by("pk").values_list("pk")


def test_a_query_on_days_answers_as_its_queryset(clinician):
    off = TimeOffFactory(clinician=clinician, starts_on=date(2026, 12, 7), ends_on=date(2026, 12, 9))
    on_day = PreparedQuery(_time_off_on, types=(date, int))
    for day in (date(2026, 12, 6), date(2026, 12, 7), date(2026, 12, 9), date(2026, 12, 10)):
        assert on_day.rows(day, clinician.pk) == list(_time_off_on(day, clinician.pk))
    assert on_day.rows(date(2026, 12, 8), clinician.pk) == [(off.pk,)]


def test_a_query_on_moments_answers_as_its_queryset(clinician):
    first = AppointmentFactory(clinician=clinician, starts_at=at(tomorrow(), 9))
    second = AppointmentFactory(clinician=clinician, starts_at=at(tomorrow(), 11))
    between = PreparedQuery(_starting_between, types=(datetime, datetime))
    for after, before in [(at(tomorrow(), 8), at(tomorrow(), 10)), (at(tomorrow(), 9), at(tomorrow(), 12))]:
        assert between.rows(after, before) == list(_starting_between(after, before))
    assert between.rows(at(tomorrow(), 9), at(tomorrow(), 12)) == [(first.pk,), (second.pk,)]


def test_a_value_of_another_type_is_refused(db):
    on_day = PreparedQuery(_time_off_on, types=(date, int))
    with pytest.raises(TypeError, match="takes a date"):
        on_day.rows(timezone.now(), 1)  # a moment is not a day
    with pytest.raises(TypeError, match="takes a int"):
        on_day.rows(date(2026, 12, 7), True)
    with pytest.raises(TypeError, match="takes values of the types"):
        PreparedQuery(lambda name: Group.objects.filter(name=name), types=(str,))


def _starting_within_a_day_of(moment):
    return Appointment.objects.filter(starts_at__gte=moment - timedelta(days=1), starts_at__lt=moment).values_list("pk")


def test_a_value_worked_out_from_one_the_query_takes_is_refused(db):
    # It would be written into the statement as worked out from the stand-in, the same for every call.
    with pytest.raises(ValueError, match="works a value out"):
        PreparedQuery(_starting_within_a_day_of, types=(datetime,)).rows(timezone.now())
    with pytest.raises(ValueError, match="works a value out"):
        PreparedQuery(lambda pk: Group.objects.filter(pk__in=[pk, pk + 1]).values_list("name")).rows(1)


def test_queries_that_differ_only_in_a_written_in_value_are_prepared_apart(db):
    Group.objects.create(name="Example")
    Group.objects.create(name="Other")
    example = PreparedQuery(lambda pk: Group.objects.filter(pk__gt=pk, name="Example").values_list("name"))
    other = PreparedQuery(lambda pk: Group.objects.filter(pk__gt=pk, name="Other").values_list("name"))
    assert example.rows(0) == [("Example",)]
    assert other.rows(0) == [("Other",)]  # on the same connection, not the first one's statement
