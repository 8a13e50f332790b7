"""Staff shown beside what they recorded (a session's clinician, a consent's witness, an addendum's author), read
without joining the user table.

A clinic's user table is mostly its patients' portal accounts, with the staff among the first ids. Joined to a
note or an appointment, PostgreSQL merge-joins the users in id order, expecting from its statistics to stop after
the clinicians it knows of. For a clinician added since (hired after the patients had accounts, and too new to
be in the statistics) it read every user: at 19,846 users, 2.2 to 2.9 ms a query rather than 0.2 to 0.4, four
times on the patient page. Looked up by id in a subquery of its own, a user is one index probe whatever their id.

`with_users(queryset, "clinician")` adds the lookup; `attach_users(objects, "clinician")` then gives each object
its `clinician` as a User holding what pages show of one (id, username, names), as select_related would.
"""

from collections.abc import Iterable

from django.db import DEFAULT_DB_ALIAS
from django.db.models import Model, OuterRef, QuerySet, Subquery
from django.db.models.functions import JSONObject

from accounts.models import User

SHOWN_FIELDS = ("id", "username", "first_name", "last_name")


def user_row(user_id: str) -> Subquery:
    """What is shown of the user whose id the column (or path) `user_id` holds, as {field: value}, or None."""
    row = JSONObject(**{field: field for field in SHOWN_FIELDS})
    return Subquery(User.objects.filter(pk=OuterRef(user_id)).values(row=row)[:1])


def shown_name(row: dict) -> str:
    """User.get_full_name(), or the username without one, of a user_row."""
    return User.shown_name(row["first_name"], row["last_name"], row["username"])


def shown_user(row: dict | None) -> User | None:
    """The User of a user_row, as if read with only its shown fields."""
    if row is None:
        return None
    return User.from_db(DEFAULT_DB_ALIAS, list(SHOWN_FIELDS), [row[field] for field in SHOWN_FIELDS])


def _row_name(field: str) -> str:
    return f"{field}_shown_row"


def with_users(queryset: QuerySet, *fields: str) -> QuerySet:
    """The queryset with the users its foreign keys `fields` point to looked up (see attach_users)."""
    return queryset.annotate(**{_row_name(field): user_row(f"{field}_id") for field in fields})


def give_user(obj: Model, field: str, row: dict | None) -> None:
    """Set obj's foreign key `field` to the user of a user_row, as select_related would have."""
    obj._meta.get_field(field).set_cached_value(obj, shown_user(row))


def attach_users(objects: Iterable[Model], *fields: str) -> list:
    """The objects of a with_users queryset, each with its users in place of the looked-up rows."""
    objects = list(objects)
    for obj in objects:
        for field in fields:
            give_user(obj, field, getattr(obj, _row_name(field)))
    return objects
