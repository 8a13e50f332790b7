"""Queries compiled to SQL once per process, then run again with new values.

Django turns a queryset into SQL every time it runs it. For a query of several joined or combined parts that
costs far more than the database takes to answer: the user's roles and permissions, read on every page, took
4 ms to compile and 0.3 ms to run. A PreparedQuery builds its queryset once, with stand-in values, keeps the SQL,
and from then on only swaps the real values in.
"""

from collections.abc import Callable
from functools import cached_property

from django.db import connection
from django.db.models import QuerySet

# Stand-ins for the values a query is built with: distinctive whole numbers no real id is (ids count up from 1).
_STAND_IN_BASE = -1_987_654_321  # within a 32-bit integer column's range, as Django checks


class PreparedQuery:
    """`build(*values)` returns a queryset; `rows(*values)` runs its SQL with those values, as tuples.

    Each value must reach the SQL as a parameter of its own (an id compared with a column, say), which the
    first call checks: a value folded into the SQL text, or changed on the way, cannot be swapped later."""

    def __init__(self, build: Callable[..., QuerySet], arity: int = 1):
        self.build = build
        self.arity = arity

    @cached_property
    def _compiled(self) -> tuple[str, list, list[tuple[int, int]]]:
        stand_ins = [_STAND_IN_BASE - index for index in range(self.arity)]
        sql, params = self.build(*stand_ins).query.sql_with_params()
        slots = [(position, stand_ins.index(value)) for position, value in enumerate(params) if value in stand_ins]
        if {argument for _, argument in slots} != set(range(self.arity)):
            raise ValueError("Each value must reach the query as a parameter of its own.")
        return sql, list(params), slots

    def rows(self, *values) -> list[tuple]:
        if len(values) != self.arity:
            raise TypeError(f"This query takes {self.arity} value(s), not {len(values)}.")
        sql, params, slots = self._compiled
        params = list(params)
        for position, argument in slots:
            params[position] = values[argument]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()
