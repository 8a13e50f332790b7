"""Queries compiled to SQL once per process, then run again with new values.

Django turns a queryset into SQL every time it runs it. For a query of several joined or combined parts that
costs far more than the database takes to answer: the user's roles and permissions, read on every page, took
4 ms to compile and 0.3 ms to run, and a session note with the seven rows it is shown with 5 ms to compile. A
PreparedQuery builds its queryset once, with stand-in values, keeps the SQL and the compiler's description of
its columns, and from then on only swaps the real values in: `rows()` answers as `values_list()` would,
`objects()` as iterating the queryset would (select_related rows and annotations included).

PostgreSQL, too, plans a query afresh each time it is sent as text: for the session note's nine joined tables
1.5 ms, eight times what running it takes. So each connection PREPAREs the query once, on first use, and runs it
with EXECUTE and the values from then on, on the plan it keeps. The PREPARE goes on the connection's own cursor,
beside Django's: like the connection's other set-up it is not one of a page's queries, and it happens once per
connection (a worker's connection lasts CONN_MAX_AGE). The statement lives as long as the connection and
survives a rollback; a connection behind a pooler that hands each transaction to a different server connection
(PgBouncer in transaction mode) would lose it, so the portal connects to PostgreSQL directly.
"""

import copy
import hashlib
import re
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import psycopg
from django.db import connections
from django.db.models import Model, QuerySet
from django.db.models.query import get_related_populators
from django.db.models.sql.compiler import SQLCompiler

# Stand-ins for the values a query is built with: distinctive whole numbers no real id is (ids count up from 1).
_STAND_IN_BASE = -1_987_654_321  # within a 32-bit integer column's range, as Django checks


@dataclass(frozen=True)
class _Compiled:
    sql: str  # built with the stand-ins among its params
    params: tuple
    arity: int  # how many values it takes: the stand-ins _STAND_IN_BASE, _STAND_IN_BASE - 1, ...
    compiler: SQLCompiler  # after as_sql(): its select, klass_info and annotation_col_map describe the rows

    @cached_property
    def name(self) -> str:
        """The prepared statement's name: the same query has the same name in every process."""
        return "pit_" + hashlib.sha256(self.sql.encode()).hexdigest()[:24]

    def statement(self, connection) -> str:
        """PREPARE for this query, with its other values written in as psycopg writes them into the SQL it sends
        today (client-side binding), and its values as $1, $2... (whole numbers, bigint)."""
        with psycopg.ClientCursor(connection) as cursor:
            text = cursor.mogrify(self.sql, self.params)
        for argument in range(self.arity):
            text = re.sub(rf"(?<![\w.$]){_STAND_IN_BASE - argument}(?![\w.])", f"${argument + 1}", text)
        types = f" ({', '.join(['bigint'] * self.arity)})" if self.arity else ""
        return f"PREPARE {self.name}{types} AS {text}"

    @cached_property
    def execute_sql(self) -> str:
        """EXECUTE with a placeholder for each value."""
        values = f" ({', '.join(['%s'] * self.arity)})" if self.arity else ""
        return f"EXECUTE {self.name}{values}"


# The statements each open connection has prepared, forgotten with the connection.
_PREPARED_ON: "weakref.WeakKeyDictionary[psycopg.Connection, set[str]]" = weakref.WeakKeyDictionary()


def _prepare_once(compiled: _Compiled, connection) -> None:
    prepared = _PREPARED_ON.setdefault(connection, set())
    if compiled.name not in prepared:
        with connection.cursor() as cursor:
            cursor.execute(compiled.statement(connection))
        prepared.add(compiled.name)


class PreparedQuery:
    """`build(*values)` returns a queryset; `rows(*values)` and `objects(*values)` run its SQL with those values.

    Each value must reach the SQL as a parameter of its own (an id compared with a column, say), which the
    first call checks: a value folded into the SQL text, or changed on the way, cannot be swapped later."""

    def __init__(self, build: Callable[..., QuerySet], arity: int = 1):
        self.build = build
        self.arity = arity

    @cached_property
    def _compiled(self) -> _Compiled:
        stand_ins = [_STAND_IN_BASE - index for index in range(self.arity)]
        queryset = self.build(*stand_ins)
        compiler = queryset.query.get_compiler(using=queryset.db)
        sql, params = compiler.as_sql()
        if {value for value in params if value in stand_ins} != set(stand_ins):
            raise ValueError("Each value must reach the query as a parameter of its own.")
        return _Compiled(sql, tuple(params), self.arity, compiler)

    def _run(self, values: tuple) -> tuple[SQLCompiler, list]:
        if len(values) != self.arity:
            raise TypeError(f"This query takes {self.arity} value(s), not {len(values)}.")
        compiled = self._compiled
        # The kept compiler, pointed at this thread's connection (converters are asked for it).
        compiler = copy.copy(compiled.compiler)
        compiler.connection = connections[compiler.using]
        with compiler.connection.cursor() as cursor:
            _prepare_once(compiled, compiler.connection.connection)
            cursor.execute(compiled.execute_sql, list(values))
            return compiler, cursor.fetchall()

    def rows(self, *values) -> list[tuple]:
        """The rows as tuples, each value converted as values_list() converts it."""
        compiler, rows = self._run(values)
        return list(compiler.results_iter(results=[rows], tuple_expected=True))

    def objects(self, *values) -> list[Model]:
        """Model instances, as Django's ModelIterable builds them from the same rows."""
        compiler, rows = self._run(values)
        select, klass_info = compiler.select, compiler.klass_info
        start, end = klass_info["select_fields"][0], klass_info["select_fields"][-1] + 1
        attnames = [column[0].target.attname for column in select[start:end]]
        populators = get_related_populators(klass_info, select, compiler.using)
        found = []
        for row in compiler.results_iter(results=[rows]):
            obj = klass_info["model"].from_db(compiler.using, attnames, row[start:end])
            for populator in populators:
                populator.populate(row, obj)
            for name, position in (compiler.annotation_col_map or {}).items():
                setattr(obj, name, row[position])
            found.append(obj)
        return found
