"""Loading generated rows with PostgreSQL COPY, ids taken from each table's own sequence.

The seeding transaction locks the tables it writes (other sessions may still read them), so the ids handed
out here from `nextval` onwards cannot be taken by anyone else before `setval` moves the sequence past them.
"""

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from django.db import connection, models


class SeedError(Exception):
    """Something about the database or the models that the seeder cannot work with; the message says what."""


@dataclass
class Table:
    """One table being filled: its columns in row order, the next id to hand out, the rows waiting to be
    copied, and running totals for the report."""

    model: type[models.Model]
    fields: tuple[str, ...]
    next_id: int = 0
    sequence: str = ""
    pending: list[tuple] = field(default_factory=list)
    rows: int = 0
    seconds: float = 0.0

    @property
    def name(self) -> str:
        return self.model._meta.db_table

    @property
    def columns(self) -> list[str]:
        column = {field.attname: field.column for field in self.model._meta.concrete_fields}
        return [column[name] for name in self.fields]

    def new_id(self) -> int:
        allocated = self.next_id
        self.next_id += 1
        return allocated

    def add(self, row: tuple) -> None:
        self.pending.append(row)


def check_columns(model: type[models.Model], fields: Sequence[str]) -> None:
    """Refuse to seed a table whose model has a required column the generator does not fill (a field
    added since this was written): better a clear message than rows that violate NOT NULL."""
    given = set(fields)
    missing = [
        f.attname for f in model._meta.concrete_fields if f.attname not in given and not f.null and f.db_default is None
    ]
    if missing:
        raise SeedError(f"seed_scale does not fill {model._meta.db_table}.{', '.join(missing)}; update the generator.")
    unknown = given - {f.attname for f in model._meta.concrete_fields}
    if unknown:
        raise SeedError(f"{model._meta.db_table} has no column(s) {', '.join(sorted(unknown))}.")


class Loader:
    """Hands out ids and copies rows table by table, inside the caller's transaction."""

    def __init__(self, specs: Iterable[tuple[type[models.Model], tuple[str, ...]]]):
        self.tables: dict[type[models.Model], Table] = {}
        for model, fields in specs:
            check_columns(model, fields)
            self.tables[model] = Table(model, fields)

    def __getitem__(self, model: type[models.Model]) -> Table:
        return self.tables[model]

    def lock_and_reserve(self) -> None:
        """Lock every table against other writers until commit, then note where each id sequence stands."""
        names = ", ".join(connection.ops.quote_name(table.name) for table in self.tables.values())
        with connection.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {names} IN SHARE ROW EXCLUSIVE MODE")
            for table in self.tables.values():
                cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table.name])
                table.sequence = cursor.fetchone()[0]
                if table.sequence is None:
                    raise SeedError(f"{table.name}.id has no sequence.")
                cursor.execute("SELECT nextval(%s)", [table.sequence])
                table.next_id = cursor.fetchone()[0]

    def flush(self) -> None:
        """Copy every table's pending rows, and move each sequence past the ids used so far."""
        with connection.cursor() as cursor:
            for table in self.tables.values():
                if not table.pending:
                    continue
                started = time.perf_counter()
                columns = ", ".join(connection.ops.quote_name(column) for column in table.columns)
                with cursor.cursor.copy(f"COPY {connection.ops.quote_name(table.name)} ({columns}) FROM STDIN") as copy:
                    for row in table.pending:
                        copy.write_row(row)
                cursor.execute("SELECT setval(%s, %s)", [table.sequence, table.next_id - 1])
                table.seconds += time.perf_counter() - started
                table.rows += len(table.pending)
                table.pending.clear()
