"""Short related lists read inside another query, as JSON, instead of a query each.

A page that shows one record and a few short lists hanging off it (an intake's conditions and
medications, the pain areas of an assessment) can take them as annotations of the record's own query:
PostgreSQL builds each list as an array of JSON objects (ARRAY(SELECT json_build_object(...))), and
`as_instances` turns the rows back into unsaved model instances, each value converted by its model field
as a query would (timestamps and decimals come back as datetime and Decimal). For display only: the
instances are not meant to be saved.
"""

from collections.abc import Iterable, Mapping, Sequence

from django.contrib.postgres.expressions import ArraySubquery
from django.db import models
from django.db.models.functions import JSONObject


def json_rows(queryset: models.QuerySet, fields: Sequence[str] | Mapping[str, str]) -> ArraySubquery:
    """An annotation: the queryset's rows (in its order) as a list of {name: value}. `fields` names the
    columns (attnames for foreign keys: "intake_id"), or maps each name to the path it is read from."""
    paths = fields if isinstance(fields, Mapping) else {field: field for field in fields}
    return ArraySubquery(queryset.values(row=JSONObject(**paths)))


def as_instances(model: type[models.Model], rows: Iterable[dict] | None) -> list[models.Model]:
    by_attname = {field.attname: field for field in model._meta.concrete_fields}
    return [model(**{name: by_attname[name].to_python(value) for name, value in row.items()}) for row in rows or ()]
