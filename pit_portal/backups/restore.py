"""Restoring a backup: check it, load the database, unpack the documents, then check what arrived."""

import hashlib
import tarfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import psycopg
from django.core.files.storage import Storage

from audit.chain import CHECK_SQL, first_break
from audit.heads import backup_heads
from audit.models import AuditEvent
from documents.models import Document
from documents.storage import StorageUnavailable, write_atomically
from pit_portal.backups.create import read_stored, table_row_counts
from pit_portal.backups.manifest import DATABASE_DUMP, DOCUMENTS_ARCHIVE, file_digest, read_manifest, verify_files
from pit_portal.backups.postgres import BackupError, Database, find_tool, run_tool, scalar, server_major


@dataclass
class RestoreReport:
    manifest: dict
    tables: int = 0
    rows: int = 0
    documents: int = 0
    audit_events: int = 0
    problems: list[str] = field(default_factory=list)


def existing_tables(connection: psycopg.Connection) -> int:
    return scalar(connection, "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()")


def load_database(dump: Path, target: Database, *, source_major: int, dump_major: int, replace: bool) -> None:
    """pg_restore in one transaction: on any error nothing is left half-restored. The triggers (append-only audit
    trail, locked signed notes, change history) are in the dump's post-data section, so they are created after
    the rows are loaded and do not fire on them."""
    with target.connect(autocommit=True) as connection:
        major = server_major(connection)
    if major < source_major:
        # PostgreSQL does not go back a version: the dump may use what the older server lacks.
        raise BackupError(
            f"The backup was taken from PostgreSQL {source_major}; {target.name!r} runs PostgreSQL {major}. "
            f"Restore into a server of version {source_major} or later."
        )
    pg_restore = find_tool("pg_restore", max(major, dump_major))
    command = [str(pg_restore.path), "--no-owner", "--exit-on-error", "--single-transaction"]
    if replace:
        command += ["--clean", "--if-exists"]
    command += ["--dbname", target.conninfo, str(dump)]
    run_tool(command, target, what="pg_restore")
    with target.connect(autocommit=True) as connection:
        # What the planner is told a trigram comparison costs belongs to the pg_trgm extension, which a dump
        # recreates rather than copies (patients migration 0006; a backup from before it has no such function).
        if scalar(connection, "SELECT to_regprocedure('trigram_operator_costs()')"):
            connection.execute("SELECT trigram_operator_costs()")


def unpack_documents(archive: Path, root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "r:gz") as documents:
        # The "data" filter refuses absolute paths, ".." and links out of the folder, and device files.
        documents.extractall(root, filter="data")


def write_documents(archive: Path, storage: Storage) -> None:
    """Each file in the archive written back through the storage API (an S3-compatible bucket) under its own name.
    The names are checked as the file system's "data" filter would: nothing absolute, nothing out of the store."""
    with tarfile.open(archive, "r:gz") as documents:
        for member in documents:
            stored = documents.extractfile(member) if member.isfile() else None
            if stored is None:
                continue
            name = PurePosixPath(member.name)
            if name.is_absolute() or ".." in name.parts:
                raise BackupError(f"{DOCUMENTS_ARCHIVE} names a file outside the document store: {member.name!r}.")
            if write_atomically(storage, member.name, stored.read()) != member.name:
                raise BackupError(f"The document store saved {member.name!r} under another name; nothing refers to it.")


def row_count_problems(connection: psycopg.Connection, expected: dict[str, int]) -> tuple[int, int, list[str]]:
    found = table_row_counts(connection)
    problems = [
        f"table {table}: {rows} rows in the backup, {found.get(table, 'no table')} restored"
        for table, rows in sorted(expected.items())
        if found.get(table) != rows
    ]
    return len(expected), sum(expected.values()), problems


def stored_sha256(documents: Path | Storage, name: str) -> str | None:
    if isinstance(documents, Path):
        path = documents / name
        return file_digest(path)["sha256"] if path.is_file() else None
    content = read_stored(documents, name)
    return None if content is None else hashlib.sha256(content).hexdigest()


def document_problems(connection: psycopg.Connection, documents: Path | Storage) -> tuple[int, list[str]]:
    """Each stored document's file is there and its SHA-256 is the one its row recorded when it was made."""
    rows = connection.execute(
        f"SELECT id, file_name, sha256 FROM {Document._meta.db_table} WHERE file_name <> '' ORDER BY id"  # noqa: S608
    ).fetchall()
    problems = []
    for document_id, file_name, sha256 in rows:
        found = stored_sha256(documents, file_name)
        if found is None:
            problems.append(f"document {document_id}: its file is missing")
        elif found != sha256:
            problems.append(f"document {document_id}: its file does not match its recorded checksum")
    return len(rows), problems


def keyed_trail(connection: psycopg.Connection) -> bool:
    keyed = (
        "SELECT 1 FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND table_name = %s AND column_name = 'mac'"
    )
    return connection.execute(keyed, [AuditEvent._meta.db_table]).fetchone() is not None


def audit_chain_problems(connection: psycopg.Connection, folder: Path) -> tuple[int, list[str]]:
    """The same walk as `manage.py audit_verify`, on the restored database, against the head the backup recorded
    (so a trail cut short in the dump shows too). It needs the portal's AUDIT_CHAIN_KEY."""
    if scalar(connection, "SELECT to_regclass(%s)", [AuditEvent._meta.db_table]) is None:
        return 0, []
    if not keyed_trail(connection):
        # A backup from before the trail was keyed: `manage.py migrate` checks its old chain in full, and refuses
        # to key a broken one (audit migration 0005).
        return 0, []
    # A server-side cursor (it lives in a transaction): a long trail is streamed, never held in memory.
    with connection.transaction(), connection.cursor(name="audit_chain_check") as cursor:
        cursor.itersize = 5000
        cursor.execute(CHECK_SQL)
        check = first_break(cursor, heads=backup_heads(folder))
    if check.first_broken_id is not None:
        return check.rows, [f"the audit trail's hash chain is broken at event {check.first_broken_id}"]
    return check.rows, [f"the audit trail was cut: {check.missing}"] if check.missing else []


def restore_backup(folder: Path, target: Database, documents: Path | Storage, *, force: bool) -> RestoreReport:
    """`documents` is where the documents go: a folder (the file system), or a storage written through its API."""
    manifest = read_manifest(folder)
    verify_files(folder, manifest)
    with target.connect(autocommit=True) as connection:
        tables = existing_tables(connection)
    if tables and not force:
        raise BackupError(
            f"Database {target.name!r} already has {tables} tables. Restore into an empty database, "
            "or pass --force to replace what the backup contains."
        )
    load_database(
        folder / DATABASE_DUMP,
        target,
        source_major=manifest["database"]["server_major"],
        dump_major=manifest["pg_dump"]["major"],
        replace=bool(tables),
    )
    report = RestoreReport(manifest)
    try:
        if isinstance(documents, Path):
            unpack_documents(folder / DOCUMENTS_ARCHIVE, documents)
        else:
            write_documents(folder / DOCUMENTS_ARCHIVE, documents)
        with target.connect(autocommit=True) as connection:
            report.tables, report.rows, count_problems = row_count_problems(connection, manifest["row_counts"])
            report.documents, file_problems = document_problems(connection, documents)
            report.audit_events, chain_problems = audit_chain_problems(connection, folder)
    except StorageUnavailable as error:
        raise BackupError(
            f"The database was restored, but not the documents: {error}. "
            "Run the restore again with --force once it answers."
        ) from error
    report.problems = count_problems + file_problems + chain_problems
    return report
