"""Model validation without a database query per check constraint or per foreign key already loaded.

Django's Model.full_clean() asks the database about every CheckConstraint (one SELECT each, three inside a
transaction with the savepoint it takes) and about every foreign key (SELECT 1 ... to see the row exists).
A session note with two sites cost some 30 queries that way before it was saved. The CheckConstraints
this project declares are comparisons, null tests and AND/OR/NOT of them: those are evaluated here in
Python, with SQL's three-valued logic (a comparison with NULL is unknown, and a CHECK only fails when its
condition is false). Any condition this evaluator does not understand (a function such as Now(), a regex, a
join) is still asked of the database, as Django does. The database keeps every constraint either way.
"""

import operator
from collections.abc import Callable, Iterable

from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import router
from django.db.models import CheckConstraint, F, ForeignKey, Q
from django.db.models.constants import LOOKUP_SEP

COMPARISONS: dict[str, Callable] = {
    "exact": operator.eq,
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}


class NotEvaluable(Exception):
    """The condition uses something only the database can work out."""


class ExcludedField(Exception):
    """The condition reads a field left out of this validation: Django skips such constraints too."""


def _field_value(instance, name: str, exclude: set[str]):
    meta = instance._meta
    if name == "pk":
        return instance.pk
    try:
        field = meta.get_field(name)
    except FieldDoesNotExist as error:  # e.g. a path through a relation
        raise NotEvaluable(name) from error
    if not field.concrete or field.many_to_many:
        raise NotEvaluable(name)
    if field.name in exclude:
        raise ExcludedField(name)
    return getattr(instance, field.attname)


def _operand(instance, value, exclude: set[str]):
    if isinstance(value, F):
        return _field_value(instance, value.name, exclude)
    if hasattr(value, "resolve_expression"):
        raise NotEvaluable(repr(value))
    return value


def _lookup_truth(instance, lookup: str, value, exclude: set[str]) -> bool | None:
    name, _, lookup_name = lookup.partition(LOOKUP_SEP)
    lookup_name = lookup_name or "exact"
    if LOOKUP_SEP in lookup_name:
        raise NotEvaluable(lookup)
    left = _field_value(instance, name, exclude)
    right = _operand(instance, value, exclude)
    if lookup_name == "isnull":
        return (left is None) == bool(right)
    if lookup_name == "exact" and value is None:
        return left is None  # Django turns field=None into IS NULL; field=F(other) stays "=", unknown with a NULL
    if lookup_name == "in":
        if left is None:
            return None
        choices = list(right)
        if left in choices:
            return True
        return None if None in choices else False
    compare = COMPARISONS.get(lookup_name)
    if compare is None:
        raise NotEvaluable(lookup)
    if left is None or right is None:
        return None
    return compare(left, right)


def _all(results: Iterable[bool | None]) -> bool | None:
    results = list(results)
    if False in results:
        return False
    return None if None in results else True


def _any(results: Iterable[bool | None]) -> bool | None:
    results = list(results)
    if True in results:
        return True
    return None if None in results else False


def sql_truth(condition, instance, exclude: set[str] = frozenset()) -> bool | None:
    """What PostgreSQL would make of the condition for this instance's values: True, False or None
    (unknown). Raises NotEvaluable or ExcludedField."""
    if isinstance(condition, tuple):
        return _lookup_truth(instance, *condition, exclude)
    if not isinstance(condition, Q):
        raise NotEvaluable(repr(condition))
    results = (sql_truth(child, instance, exclude) for child in condition.children)
    if condition.connector == Q.AND:
        result = _all(results)
    elif condition.connector == Q.OR:
        result = _any(results)
    else:
        raise NotEvaluable(condition.connector)
    return None if result is None else (not result if condition.negated else result)


def _check_in_python(constraint: CheckConstraint, instance, exclude: set[str]) -> bool:
    """Validate the constraint here if possible (raising ValidationError); False if the database must."""
    try:
        verdict = sql_truth(Q(constraint.condition), instance, exclude)
    except NotEvaluable:
        return False
    except ExcludedField:
        return True
    if verdict is False:
        raise ValidationError(constraint.get_violation_error_message(), code=constraint.violation_error_code)
    return True


class FewerValidationQueries:
    """Model mixin: full_clean() evaluates check constraints in Python where it can, and does not ask the
    database whether a foreign key's row exists when that row was loaded from it in this request."""

    def validate_constraints(self, exclude=None):
        exclude = set(exclude or ())
        using = router.db_for_write(self.__class__, instance=self)
        errors: dict = {}
        for model_class, constraints in self.get_constraints():
            for constraint in constraints:
                try:
                    if not (isinstance(constraint, CheckConstraint) and _check_in_python(constraint, self, exclude)):
                        constraint.validate(model_class, self, exclude=exclude, using=using)
                except ValidationError as error:
                    # As Model.validate_constraints files them.
                    if getattr(error, "code", None) == "unique" and len(constraint.fields) == 1:
                        errors.setdefault(constraint.fields[0], []).append(error)
                    else:
                        errors = error.update_error_dict(errors)
        if errors:
            raise ValidationError(errors)

    def clean_fields(self, exclude=None):
        return super().clean_fields(exclude={*(exclude or ()), *self._foreign_keys_loaded_from_database()})

    def _foreign_keys_loaded_from_database(self) -> set[str]:
        """Foreign keys whose related object sits on this instance, read from the database: it exists, so
        ForeignKey.validate's existence query is skipped (its other checks cannot fail on a loaded row)."""
        loaded = set()
        for field in self._meta.concrete_fields:
            if not isinstance(field, ForeignKey) or field.get_limit_choices_to() or not field.is_cached(self):
                continue
            related = field.get_cached_value(self)
            if related is not None and not related._state.adding and related.pk == getattr(self, field.attname):
                loaded.add(field.name)
        return loaded
