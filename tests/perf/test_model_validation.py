"""pit_portal.validation: check constraints evaluated in Python agree with PostgreSQL, and cost no query."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import CheckConstraint, Q
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assessments.models import Assessment, Nerve
from pit_portal.validation import ExcludedField, FewerValidationQueries, NotEvaluable, sql_truth
from scheduling.models import Appointment
from tests.factories import SessionFactory
from treatments.models import AdverseEvent, InjectionSession, InjectionSite, SessionAddendum, TreatmentCourse

MODELS = [TreatmentCourse, InjectionSession, InjectionSite, AdverseEvent, SessionAddendum, Appointment, Assessment]
MOMENT = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)
# Values around every bound the project's check constraints name, and None, for each kind of column.
NUMBERS = [None, -1, 0, 1, 2, 5, 10, 11, 20, 21, 40, 41, 90, 91]
DECIMALS = [None, *(Decimal(text) for text in ("-1", "0", "0.05", "0.5", "1", "1.01", "2", "2.01", "10", "25", "25.1"))]
TEXTS = [
    "",
    "none",
    "lidocaine",
    "mannitol",
    "active",
    "discontinued",
    "cancelled",
    "booked",
    "review",
    "Reason",
    "x" * 64,
]
MOMENTS = [None, MOMENT, MOMENT + timedelta(hours=1), MOMENT + timedelta(hours=8), MOMENT + timedelta(hours=9),
           datetime(1899, 12, 31, 23, 59, tzinfo=UTC)]  # fmt: skip
DAYS = [None, date(1899, 12, 31), date(1900, 1, 1), MOMENT.date()]


def _values_for(field: models.Field) -> list:
    if isinstance(field, models.ForeignKey):
        return [None, 1]
    if isinstance(field, models.DecimalField):
        return DECIMALS
    if isinstance(field, (models.IntegerField, models.AutoField)):
        return NUMBERS
    if isinstance(field, models.DateTimeField):
        return MOMENTS
    if isinstance(field, models.DateField):
        return DAYS
    if isinstance(field, models.BooleanField):
        return [False, True]
    return TEXTS


CONSTRAINTS = [
    (model, constraint)
    for model in MODELS
    for constraint in model._meta.constraints
    if isinstance(constraint, CheckConstraint)
]


@pytest.mark.parametrize(("model", "constraint"), CONSTRAINTS, ids=[c.name for _, c in CONSTRAINTS])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_python_verdict_matches_the_database(db, model, constraint, data):
    instance = model()
    for field in model._meta.concrete_fields:
        setattr(instance, field.attname, data.draw(st.sampled_from(_values_for(field)), label=field.name))
    try:
        verdict = sql_truth(Q(constraint.condition), instance)
    except NotEvaluable:
        return  # left to the database, as Django does
    against = instance._get_field_expression_map(meta=model._meta)
    # A CHECK passes unless its condition is false: NULL (unknown) passes, in Python as in PostgreSQL.
    assert (verdict is not False) == Q(constraint.condition).check(against)


def test_all_but_function_conditions_are_evaluated_in_python():
    evaluated = []
    for model, constraint in CONSTRAINTS:
        try:
            sql_truth(Q(constraint.condition), model())
            evaluated.append(constraint.name)
        except NotEvaluable:
            pass
    assert "session_additive_percent_in_range" in evaluated
    assert "site_volume_in_range" in evaluated
    assert "appointment_length_bounded" not in evaluated  # F() + interval: asked of the database


def test_a_condition_on_a_field_left_out_is_skipped():
    with pytest.raises(ExcludedField):
        sql_truth(Q(points__gte=1), InjectionSite(points=0), exclude={"points"})


def test_a_failing_constraint_is_reported_with_its_message(db):
    site = InjectionSite(session=SessionFactory(), nerve=Nerve.objects.first(), side="left", points=41,
                         volume_per_point_ml=Decimal("0.5"))  # fmt: skip
    with pytest.raises(ValidationError) as refused:
        site.full_clean()
    assert "site_points_in_range" in str(refused.value)


def test_a_valid_site_with_loaded_relations_is_validated_without_a_query(db, django_assert_num_queries):
    session, nerve = SessionFactory(), Nerve.objects.first()
    site = InjectionSite(session=session, nerve=nerve, side="left", points=4, volume_per_point_ml=Decimal("0.5"))
    with django_assert_num_queries(0):
        site.full_clean()


def test_a_foreign_key_given_as_a_bare_id_is_still_checked(db, django_assert_num_queries):
    session = SessionFactory()
    site = InjectionSite(session=session, nerve_id=999_999, side="left", points=4, volume_per_point_ml=Decimal("1"))
    with django_assert_num_queries(1), pytest.raises(ValidationError) as refused:
        site.full_clean()
    assert "nerve" in refused.value.message_dict


def test_every_model_with_check_constraints_on_a_key_page_uses_the_mixin():
    assert all(issubclass(model, FewerValidationQueries) for model in MODELS)
