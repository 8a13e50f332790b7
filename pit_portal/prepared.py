"""Queries compiled to SQL once per process, then run again with new values.

Django turns a queryset into SQL every time it runs it. For a query of several joined or combined parts that
costs far more than the database takes to answer: the user's roles and permissions, read on every page, took
4 ms to compile and 0.3 ms to run, and a session note with the seven rows it is shown with 5 ms to compile. A
PreparedQuery builds its queryset once, with stand-in values, keeps the SQL and the compiler's description of
its columns, and from then on only swaps the real values in: `rows()` answers as `values_list()` would,
`objects()` as iterating the queryset would (select_related rows and annotations included). The values are ids
and other whole numbers, days, times of day and moments.

PostgreSQL, too, plans a query afresh each time it is sent as text: for the session note's nine joined tables
1.5 ms, eight times what running it takes. So each connection PREPAREs the query once, on first use, and runs it
with EXECUTE and the values from then on, on the plan it keeps. The PREPARE goes on the connection's own cursor,
beside Django's: like the connection's other set-up it is not one of a page's queries, and it happens once per
connection (a worker's connection lasts CONN_MAX_AGE). The statement lives as long as the connection and
survives a rollback; a connection behind a pooler that hands each transaction to a different server connection
(PgBouncer in transaction mode) would lose it, so the portal connects to PostgreSQL directly. Where the values
bound a range (a day of the diary), PostgreSQL goes on planning for each EXECUTE's own values as long as a plan
for any values would cost more, which keeps the index scans a text query gets.
"""

import copy
import hashlib
import re
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property

import psycopg
from django.db import connections
from django.db.models import Model, QuerySet
from django.db.models.query import get_related_populators
from django.db.models.sql.compiler import SQLCompiler

# Stand-ins for the values a query is built with, distinctive values of each type that no row holds: whole numbers
# no id is (ids count up from 1), and days, times and moments in 1901.
_STAND_IN_BASE = -1_987_654_321  # within a 32-bit integer column's range, as Django checks
_STAND_IN_DAY = date(1901, 1, 1)
SQL_TYPES = {int: "bigint", date: "date", time: "time", datetime: "timestamptz"}


def _stand_in(kind: type, index: int) -> object:
    if kind is int:
        return _STAND_IN_BASE - index
    if kind is date:
        return _STAND_IN_DAY + timedelta(days=index)
    if kind is time:
        return time(0, 0, 0, index + 1)
    if kind is datetime:
        return datetime.combine(_STAND_IN_DAY, time(), UTC) + timedelta(seconds=index)
    raise TypeError(f"A prepared query takes values of the types {', '.join(t.__name__ for t in SQL_TYPES)}.")


@dataclass(frozen=True)
class _Compiled:
    sql: str  # built with the stand-ins among its params
    params: tuple
    types: tuple[type, ...]  # of the values it takes, in order
    compiler: SQLCompiler  # after as_sql(): its select, klass_info and annotation_col_map describe the rows

    @cached_property
    def name(self) -> str:
        """The prepared statement's name: the same query has the same name in every process, and queries that
        differ only in a value written into the statement (a status to match, say) have names of their own."""
        return "pit_" + hashlib.sha256(f"{self.sql}\n{self.params!r}".encode()).hexdigest()[:24]

    def statement(self, connection) -> str:
        """PREPARE for this query, with its other values written in as psycopg writes them into the SQL it sends
        today (client-side binding), and its values as $1, $2... of their SQL types."""
        with psycopg.ClientCursor(connection) as cursor:
            text = cursor.mogrify(self.sql, self.params)
            for index, kind in enumerate(self.types):
                stand_in, placeholder = _stand_in(kind, index), f"${index + 1}"
                if kind is int:  # a bare number: not part of a longer one
                    text = re.sub(rf"(?<![\w.$]){stand_in}(?![\w.])", placeholder, text)
                else:  # a quoted literal with its cast, '1901-01-01'::date
                    literal = cursor.mogrify("%s", [stand_in])
                    if literal not in text:
                        raise ValueError(f"The query does not take its value {index + 1} as psycopg writes it.")
                    text = text.replace(literal, placeholder)
        types = f" ({', '.join(SQL_TYPES[kind] for kind in self.types)})" if self.types else ""
        return f"PREPARE {self.name}{types} AS {text}"

    @cached_property
    def columns(self) -> list:
        return [column[0] for column in self.compiler.select[0 : self.compiler.col_count]]

    @cached_property
    def converters(self) -> dict:
        """What Django converts each column's values with. Its compiler works them out afresh for every run, and
        with what fills in select_related objects that was 0.1 to 0.35 ms of CPU a run of the patient page's
        queries (its record 0.95 ms, now 0.6): the same for every run of the query."""
        return self.compiler.get_converters(self.columns)

    @cached_property
    def composite(self) -> bool:
        return self.compiler.has_composite_fields(self.columns)

    @cached_property
    def populators(self) -> list:
        """What fills in the select_related objects of a row; they keep nothing of the rows they fill."""
        return get_related_populators(self.compiler.klass_info, self.compiler.select, self.compiler.using)

    @cached_property
    def execute_sql(self) -> str:
        """EXECUTE with a placeholder for each value."""
        values = f" ({', '.join(['%s'] * len(self.types))})" if self.types else ""
        return f"EXECUTE {self.name}{values}"


# The statements each open connection has prepared, forgotten with the connection.
_PREPARED_ON: "weakref.WeakKeyDictionary[psycopg.Connection, set[str]]" = weakref.WeakKeyDictionary()


def _prepare_once(compiled: _Compiled, connection) -> None:
    prepared = _PREPARED_ON.setdefault(connection, set())
    if compiled.name not in prepared:
        with connection.cursor() as cursor:
            cursor.execute(compiled.statement(connection))
        prepared.add(compiled.name)


def _near_a_stand_in(value: object) -> bool:
    """Whether a parameter looks worked out from a stand-in: a number just past them, a day, time or moment
    of 1901."""
    if type(value) is int:
        return abs(value - _STAND_IN_BASE) < 100_000
    if isinstance(value, date):  # a moment too, in any zone
        return value.year in (1900, 1901)
    if isinstance(value, time):
        return value < time(0, 0, 1) and value.microsecond > 0  # the stand-ins are microseconds past midnight
    return False


class PreparedQuery:
    """`build(*values)` returns a queryset; `rows(*values)` and `objects(*values)` run its SQL with those values.

    The values are whole numbers (`arity` of them), or of the `types` given: int, date, time and (aware) datetime.
    Each must reach the SQL as a parameter of its own (an id compared with a column, say), which the first call
    checks: a value folded into the SQL text, or changed on the way, cannot be swapped later."""

    def __init__(self, build: Callable[..., QuerySet], arity: int = 1, types: tuple[type, ...] | None = None):
        self.build = build
        self.types = types if types is not None else (int,) * arity
        for index, kind in enumerate(self.types):
            _stand_in(kind, index)  # refuses a type it has no stand-in for

    @property
    def arity(self) -> int:
        return len(self.types)

    @cached_property
    def _compiled(self) -> _Compiled:
        stand_ins = [_stand_in(kind, index) for index, kind in enumerate(self.types)]
        queryset = self.build(*stand_ins)
        compiler = queryset.query.get_compiler(using=queryset.db)
        sql, params = compiler.as_sql()
        reached = {(type(value), value) for value in params}
        if not all((type(value), value) in reached for value in stand_ins):
            raise ValueError("Each value must reach the query as a parameter of its own.")
        worked_out = [value for value in params if _near_a_stand_in(value) and value not in stand_ins]
        if worked_out:
            # A day before a stand-in, say: written into the statement as it was worked out from the stand-in.
            raise ValueError(f"The query works a value out from one it takes ({worked_out[0]!r}): take that too.")
        return _Compiled(sql, tuple(params), self.types, compiler)

    def _run(self, values: tuple) -> tuple[SQLCompiler, list]:
        if len(values) != self.arity:
            raise TypeError(f"This query takes {self.arity} value(s), not {len(values)}.")
        for value, kind in zip(values, self.types, strict=True):
            if type(value) is not kind and not (kind is int and isinstance(value, int) and type(value) is not bool):
                raise TypeError(f"This query takes a {kind.__name__} there, not {value!r}.")
        compiled = self._compiled
        # The kept compiler, pointed at this thread's connection (converters are asked for it).
        compiler = copy.copy(compiled.compiler)
        compiler.connection = connections[compiler.using]
        with compiler.connection.cursor() as cursor:
            _prepare_once(compiled, compiler.connection.connection)
            cursor.execute(compiled.execute_sql, list(values))
            return compiler, cursor.fetchall()

    def _converted(self, compiler: SQLCompiler, rows: list[tuple], tuple_expected: bool = False) -> Iterable:
        """The rows with their values converted, as compiler.results_iter() converts them, with the converters
        worked out once."""
        compiled = self._compiled
        if compiled.composite:
            return compiler.results_iter(results=[rows], tuple_expected=tuple_expected)
        if not compiled.converters:
            return rows
        converted = compiler.apply_converters(rows, compiled.converters)
        return map(tuple, converted) if tuple_expected else converted

    def rows(self, *values) -> list[tuple]:
        """The rows as tuples, each value converted as values_list() converts it."""
        compiler, rows = self._run(values)
        return list(self._converted(compiler, rows, tuple_expected=True))

    def objects(self, *values) -> list[Model]:
        """Model instances, as Django's ModelIterable builds them from the same rows."""
        compiler, rows = self._run(values)
        select, klass_info = compiler.select, compiler.klass_info
        start, end = klass_info["select_fields"][0], klass_info["select_fields"][-1] + 1
        attnames = [column[0].target.attname for column in select[start:end]]
        populators = self._compiled.populators
        found = []
        for row in self._converted(compiler, rows):
            obj = klass_info["model"].from_db(compiler.using, attnames, row[start:end])
            for populator in populators:
                populator.populate(row, obj)
            for name, position in (compiler.annotation_col_map or {}).items():
                setattr(obj, name, row[position])
            found.append(obj)
        return found
