"""Making a backup: a timestamped private folder holding db.dump, documents.tar.gz and manifest.json."""

import hashlib
import io
import posixpath
import shutil
import tarfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from django.core.files.storage import Storage
from psycopg import sql

from audit import heads
from documents.storage import StorageUnavailable, store_errors
from pit_portal.backups.manifest import (
    DATABASE_DUMP,
    DOCUMENTS_ARCHIVE,
    FILE_MODE,
    FOLDER_MODE,
    FORMAT,
    file_digest,
    private_file,
    write_manifest,
)
from pit_portal.backups.postgres import BackupError, Database, find_tool, run_tool, scalar, server_major

# A document being written is stored under this suffix and renamed when complete (documents.storage).
UNFINISHED_SUFFIX = ".partial"


@dataclass(frozen=True)
class Backup:
    folder: Path
    manifest: dict

    @property
    def document_problems(self) -> list[str]:
        check = self.manifest["documents"]
        return [f"{name}: missing" for name in check["missing"]] + [
            f"{name}: does not match its recorded SHA-256" for name in check["mismatched"]
        ]


@dataclass
class DocumentCheck:
    """What archiving found of the documents the database says are ready: each file's SHA-256 is compared with
    the one recorded when it was stored."""

    files: int = 0
    checked: int = 0
    missing: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)


def table_row_counts(connection: psycopg.Connection) -> dict[str, int]:
    """Rows in every table of the schema Django uses."""
    tables = connection.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename"
    ).fetchall()
    count = sql.SQL("SELECT count(*) FROM {}")
    return {name: scalar(connection, count.format(sql.Identifier(name))) for (name,) in tables}


def ready_documents(connection: psycopg.Connection) -> dict[str, str]:
    """File name -> recorded SHA-256 of every ready document."""
    if scalar(connection, "SELECT to_regclass('documents_document')") is None:
        return {}
    rows = connection.execute(
        "SELECT file_name, sha256 FROM documents_document WHERE status = 'ready' AND file_name <> ''"
    ).fetchall()
    return dict(rows)


def migration_state(connection: psycopg.Connection) -> dict[str, dict]:
    """Per app: how many migrations were applied and the latest one, to compare with the code restoring it."""
    if scalar(connection, "SELECT to_regclass('django_migrations')") is None:
        return {}
    rows = connection.execute("SELECT app, count(*), max(name) FROM django_migrations GROUP BY app ORDER BY app")
    return {app: {"applied": applied, "latest": latest} for app, applied, latest in rows}


def new_backup_folder(root: Path, now: datetime) -> Path:
    root.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    for attempt in range(100):
        folder = root / (stamp if attempt == 0 else f"{stamp}-{attempt}")
        try:
            folder.mkdir(mode=FOLDER_MODE)
        except FileExistsError:
            continue
        folder.chmod(FOLDER_MODE)  # mkdir's mode is narrowed by the umask, never widened; make it exact
        return folder
    raise FileExistsError(f"Too many backups named {stamp} in {root}.")


def audit_head(connection: psycopg.Connection) -> dict | None:
    """The audit chain's head in this snapshot, recorded outside the database (the manifest, and the log) so that
    `manage.py audit_verify` can name events later cut from the trail's end (audit.heads)."""
    if scalar(connection, "SELECT to_regclass('audit_auditevent')") is None:
        return None
    with connection.cursor() as cursor:
        head = heads.head_now(cursor)
    heads.logger.info(heads.head_line(head))
    return {"last_id": head.last_id, "hash": head.hash, "recorded_at": head.recorded_at}


def dump_database(database: Database, target: Path) -> tuple[dict, dict[str, str]]:
    """pg_dump in the custom format, from one snapshot that the row counts, migration state, audit chain head
    and ready documents are read in too, so the manifest describes exactly what the dump holds even while the
    portal is in use.
    Returns the manifest's facts and the ready documents' recorded checksums."""
    with database.connect() as connection:
        connection.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        connection.read_only = True
        snapshot = scalar(connection, "SELECT pg_export_snapshot()")
        server = scalar(connection, "SHOW server_version")
        major = server_major(connection)
        pg_dump = find_tool("pg_dump", major)
        facts = {"row_counts": table_row_counts(connection), "migrations": migration_state(connection)}
        facts[heads.MANIFEST_KEY] = audit_head(connection)
        documents = ready_documents(connection)
        command = [str(pg_dump.path), "--format=custom", f"--snapshot={snapshot}", "--dbname", database.conninfo]
        with private_file(target) as stream:
            run_tool(command, database, stdout=stream, what="pg_dump")
        connection.rollback()
    facts |= {
        "database": {"name": database.name, "server_version": server, "server_major": major},
        "pg_dump": {"path": str(pg_dump.path), "major": pg_dump.major},
    }
    return facts, documents


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def archive_documents(root: Path, target: Path, expected: dict[str, str]) -> DocumentCheck:
    """The document store as a gzipped tar, paths relative to its root, each ready document checked against its
    recorded SHA-256 on the way: a damaged or missing file is named, not silently carried into the backup."""
    stored = root.rglob("*") if root.is_dir() else []
    files = sorted(path for path in stored if path.is_file() and not path.name.endswith(UNFINISHED_SUFFIX))
    check = DocumentCheck(files=len(files))
    with private_file(target) as stream, tarfile.open(fileobj=stream, mode="w:gz") as archive:
        for path in files:
            name = str(path.relative_to(root))
            if name in expected:
                check.checked += 1
                if sha256_of(path) != expected[name]:
                    check.mismatched.append(name)
            archive.add(path, arcname=name, recursive=False)
    check.missing = sorted(set(expected) - {str(path.relative_to(root)) for path in files})
    return check


def stored_names(storage: Storage) -> Iterable[str]:
    """Every name in a store that is not a folder: its own flat listing where it has one (the bucket,
    documents.object_storage), else a walk of listdir; none if it cannot list (the database's names still are)."""
    listing = getattr(storage, "names", None)
    if listing is not None:
        return listing()
    try:
        return list(_walk(storage, ""))
    except NotImplementedError:
        return []


def _walk(storage: Storage, folder: str) -> Iterator[str]:
    folders, files = storage.listdir(folder)
    for name in files:
        yield posixpath.join(folder, name)
    for name in folders:
        yield from _walk(storage, posixpath.join(folder, name))


def read_stored(storage: Storage, name: str) -> bytes | None:
    """The stored file's bytes, None if it is not there. StorageUnavailable if the store could not be read."""
    try:
        with store_errors(), storage.open(name, "rb") as stored:
            return stored.read()
    except FileNotFoundError:
        return None


def archive_stored_documents(storage: Storage, target: Path, expected: dict[str, str], now: datetime) -> DocumentCheck:
    """The same archive as archive_documents, read through the storage API from a store that is not a folder (an
    S3-compatible bucket): every name the store lists and every name the database says is ready, each ready one
    checked against its recorded SHA-256 on the way."""
    with store_errors():
        names = sorted({*expected, *stored_names(storage)})
    check = DocumentCheck()
    archived = set()
    with private_file(target) as stream, tarfile.open(fileobj=stream, mode="w:gz") as archive:
        for name in names:
            if name.endswith(UNFINISHED_SUFFIX) or (content := read_stored(storage, name)) is None:
                continue
            if name in expected:
                check.checked += 1
                if hashlib.sha256(content).hexdigest() != expected[name]:
                    check.mismatched.append(name)
            member = tarfile.TarInfo(name)
            member.size, member.mtime, member.mode = len(content), int(now.timestamp()), FILE_MODE
            archive.addfile(member, io.BytesIO(content))
            archived.add(name)
    check.files = len(archived)
    check.missing = sorted(set(expected) - archived)
    return check


def make_backup(*, database: Database, documents: Path | Storage, backup_root: Path, now: datetime) -> Backup:
    """`documents` is the document store: a folder (the file system), or a storage read through its API."""
    folder = new_backup_folder(backup_root, now)
    try:
        # The database first: a document stored after its snapshot is extra in the archive, never missing from it.
        database_facts, ready = dump_database(database, folder / DATABASE_DUMP)
        if isinstance(documents, Path):
            check = archive_documents(documents, folder / DOCUMENTS_ARCHIVE, ready)
        else:
            check = archive_stored_documents(documents, folder / DOCUMENTS_ARCHIVE, ready, now)
        manifest = {
            "format": FORMAT,
            "created_at": now.astimezone(UTC).isoformat(),
            **database_facts,
            "documents": {
                "files": check.files,
                "checked": check.checked,
                "missing": check.missing,
                "mismatched": check.mismatched,
            },
            "files": {name: file_digest(folder / name) for name in (DATABASE_DUMP, DOCUMENTS_ARCHIVE)},
        }
        write_manifest(folder, manifest)
    except StorageUnavailable as error:
        shutil.rmtree(folder, ignore_errors=True)
        raise BackupError(f"Nothing was backed up: {error}. Try again once it answers.") from error
    except BaseException:
        # A half-written backup is of no use and still holds patient data.
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return Backup(folder, manifest)
