"""`manage.py backup` and `manage.py restore`, end to end on the real server: a clinic's records, signed notes,
audit trail and stored PDFs are backed up, restored into a new database, and checked there row by row."""

import base64
import hashlib
import io
import json
import stat
import subprocess
import tarfile
import uuid
from pathlib import Path
from types import SimpleNamespace

import psycopg
import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.migrations.recorder import MigrationRecorder
from django.urls import reverse

from audit import services as audit
from audit.models import Action, Source
from documents.models import Document, DocumentStatus
from pit_portal.backups import postgres
from pit_portal.backups.postgres import Database
from tests.audit.helpers import append_with_sql
from tests.deployment.processes import with_database
from tests.factories import AssessmentFactory, CourseFactory, SessionFactory
from tests.object_storage import point_documents_at, unreachable_endpoint
from treatments import services as treatment_services
from treatments.models import InjectionSession, InjectionSite

pytestmark = pytest.mark.django_db(transaction=True)


# --- fixtures -------------------------------------------------------------------------------------------------


@pytest.fixture
def documents_root(tmp_path, settings) -> Path:
    root = tmp_path / "documents"
    root.mkdir()
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(root)}},
    }
    return root


@pytest.fixture
def backup_dir(tmp_path, settings) -> Path:
    settings.BACKUP_DIR = tmp_path / "backups"
    return settings.BACKUP_DIR


@pytest.fixture
def eager_tasks():
    """Documents are rendered in this process as soon as a signature commits, exactly as the worker would."""
    from pit_portal.celery import app

    previous = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager = app.conf.task_eager_propagates = True
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = previous


def maintenance_database() -> Database:
    return Database({**Database.from_django(connection.settings_dict).params, "dbname": "postgres"})


@pytest.fixture
def fresh_database() -> SimpleNamespace:
    """An empty database on the same server (from template0: not even the extensions template1 may carry)."""
    name = f"pit_backup_restore_{uuid.uuid4().hex[:8]}"
    with maintenance_database().connect(autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
    try:
        yield SimpleNamespace(name=name, url=with_database(settings.DATABASE_URL, name))
    finally:
        with maintenance_database().connect(autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def clinic_records(clinician, patient) -> SimpleNamespace:
    """A patient with an assessment, a course, a signed session (its two PDFs rendered and stored) with an
    addendum (two more PDFs), a draft session, and audit events of several kinds."""
    AssessmentFactory(patient=patient, clinician=clinician)
    course = CourseFactory(patient=patient, created_by=clinician)
    signed = treatment_services.session_sign(session=SessionFactory(course=course, sites=3), by=clinician)
    treatment_services.addendum_add(session=signed, text="Bruising settled by day 3.", by=clinician)
    SessionFactory(course=course, sites=1)
    audit.record(Action.LOGIN, actor=clinician, source=Source.COMMAND)
    audit.record(Action.PATIENT_VIEWED, actor=clinician, patient=patient, obj=patient, source=Source.COMMAND)
    audit.record(Action.LOGIN_FAILED, username="nobody", source=Source.COMMAND, detail={"reason": "password"})
    ready = list(Document.objects.filter(status=DocumentStatus.READY))
    assert len(ready) == 4, "the signed session and its addendum each make two PDFs"
    return SimpleNamespace(signed=signed, documents=ready)


@pytest.fixture
def clinic(reference_data, eager_tasks, documents_root, clinician, patient) -> SimpleNamespace:
    """The clinic's records, its PDFs in a folder on the file system."""
    clinic = clinic_records(clinician, patient)
    assert all((documents_root / document.file_name).is_file() for document in clinic.documents)
    return clinic


@pytest.fixture
def clinic_in_a_bucket(reference_data, eager_tasks, documents_bucket, clinician, patient) -> SimpleNamespace:
    """The clinic's records, its PDFs in an S3-compatible bucket."""
    clinic = clinic_records(clinician, patient)
    assert len(bucket_objects(documents_bucket)) == len(clinic.documents)
    return clinic


# --- helpers --------------------------------------------------------------------------------------------------


def row_counts(cursor) -> dict[str, int]:
    cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename")
    tables = [name for (name,) in cursor.fetchall()]
    counts = {}
    for name in tables:
        cursor.execute(f'SELECT count(*) FROM "{name}"')  # noqa: S608 (names from pg_tables)
        counts[name] = cursor.fetchone()[0]
    return counts


def rows_of(cursor, table: str, where: str, value) -> list[tuple]:
    cursor.execute(f"SELECT * FROM {table} WHERE {where} = %s ORDER BY id", [value])  # noqa: S608
    return cursor.fetchall()


def audit_chain_breaks(cursor) -> list[int]:
    """The id where the chain breaks, if it does, walked exactly as `manage.py audit_verify` walks it."""
    cursor.execute(audit.CHECK_SQL)
    check = audit.first_break(cursor.fetchall())
    return [] if check.first_broken_id is None else [check.first_broken_id]


def only_backup_in(folder: Path) -> Path:
    backups = list(folder.iterdir())
    assert len(backups) == 1
    return backups[0]


def restore(backup: Path, database_url: str, documents: Path | None, *extra: str) -> str:
    """`manage.py restore` into `database_url`, the documents into the folder `documents`, or (None) into the
    portal's own document store."""
    out = io.StringIO()
    where = [] if documents is None else ["--documents-root", str(documents)]
    call_command("restore", "--from", str(backup), "--database-url", database_url, *where, *extra, stdout=out)
    return out.getvalue()


def bucket_objects(bucket) -> dict[str, str]:
    """Key -> the SHA-256 S3 keeps for it (hex), of every object in the bucket."""
    objects = {}
    for entry in bucket.client.list_objects_v2(Bucket=bucket.name).get("Contents", []):
        head = bucket.client.head_object(Bucket=bucket.name, Key=entry["Key"], ChecksumMode="ENABLED")
        objects[entry["Key"]] = base64.b64decode(head["ChecksumSHA256"]).hex()
    return objects


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- backup and restore ---------------------------------------------------------------------------------------


def test_backup_restores_into_a_new_database_with_records_documents_and_audit_trail_intact(
    clinic, backup_dir, fresh_database, tmp_path
):
    with connection.cursor() as cursor:
        source_counts = row_counts(cursor)
        signed_session_row = rows_of(cursor, InjectionSession._meta.db_table, "id", clinic.signed.pk)
        signed_site_rows = rows_of(cursor, InjectionSite._meta.db_table, "session_id", clinic.signed.pk)
    assert source_counts["audit_auditevent"] >= 3

    call_command("backup", stdout=io.StringIO())

    backup = only_backup_in(backup_dir)
    assert mode(backup) == 0o700
    assert {path.name for path in backup.iterdir()} == {"db.dump", "documents.tar.gz", "manifest.json"}
    assert all(mode(path) == 0o600 for path in backup.iterdir())

    restored_documents = tmp_path / "restored-documents"
    summary = restore(backup, fresh_database.url, restored_documents)
    assert f"{len(clinic.documents)} stored documents" in summary

    with psycopg.connect(fresh_database.url, autocommit=True) as restored, restored.cursor() as cursor:
        # Every table holds as many rows as the original.
        assert row_counts(cursor) == source_counts

        # Every stored PDF is back, byte for byte as its row recorded when it was made.
        cursor.execute("SELECT file_name, sha256 FROM documents_document WHERE file_name <> '' ORDER BY id")
        stored = cursor.fetchall()
        assert sorted(stored) == sorted((document.file_name, document.sha256) for document in clinic.documents)
        for file_name, sha256 in stored:
            assert hashlib.sha256((restored_documents / file_name).read_bytes()).hexdigest() == sha256

        # The signed note and its sites are exactly as signed, and its signature digest still matches them.
        assert rows_of(cursor, InjectionSession._meta.db_table, "id", clinic.signed.pk) == signed_session_row
        assert rows_of(cursor, InjectionSite._meta.db_table, "session_id", clinic.signed.pk) == signed_site_rows
        clinic.signed.refresh_from_db()
        assert treatment_services.session_signature_intact(clinic.signed)
        cursor.execute("SELECT content_sha256 FROM treatments_injectionsession WHERE id = %s", [clinic.signed.pk])
        assert cursor.fetchone()[0] == treatment_services.session_digest(clinic.signed)

        # The audit trail's chain verifies in the restored database.
        assert audit_chain_breaks(cursor) == []

        # The triggers came back after the data: signed notes and audit rows still refuse changes, and a new
        # audit row is chained onto the restored last one (so the id sequence was restored too).
        with pytest.raises(psycopg.Error, match="signed"):
            cursor.execute("UPDATE treatments_injectionsession SET notes = 'x' WHERE id = %s", [clinic.signed.pk])
        with pytest.raises(psycopg.Error, match="append-only"):
            cursor.execute("DELETE FROM audit_auditevent")
        cursor.execute("SELECT hash FROM audit_auditevent ORDER BY id DESC LIMIT 1")
        last_hash = cursor.fetchone()[0]
        assert append_with_sql(cursor, "restore-test") == last_hash
        assert audit_chain_breaks(cursor) == []

        # The planner knows again what a trigram comparison costs, which the dump does not carry.
        cursor.execute(
            "SELECT procost FROM pg_proc WHERE proname IN ('similarity_op', 'word_similarity_commutator_op')"
        )
        assert [cost for (cost,) in cursor.fetchall()] == [100, 100]


def test_the_manifest_describes_the_backup(clinic, backup_dir):
    call_command("backup", stdout=io.StringIO())
    backup = only_backup_in(backup_dir)
    manifest = json.loads((backup / "manifest.json").read_text())

    for name in ("db.dump", "documents.tar.gz"):
        content = (backup / name).read_bytes()
        assert manifest["files"][name] == {"sha256": hashlib.sha256(content).hexdigest(), "size": len(content)}
    with connection.cursor() as cursor:
        assert manifest["row_counts"] == row_counts(cursor)
    assert manifest["documents"]["files"] == len(clinic.documents)
    applied: dict[str, list[str]] = {}
    for app, name in MigrationRecorder(connection).applied_migrations():
        applied.setdefault(app, []).append(name)
    expected = {app: {"applied": len(names), "latest": max(names)} for app, names in applied.items()}
    assert manifest["migrations"] == expected
    assert "audit" in manifest["migrations"]
    assert manifest["database"]["name"] == connection.settings_dict["NAME"]
    assert manifest["pg_dump"]["major"] >= manifest["database"]["server_major"]
    assert manifest["created_at"]


def test_a_tampered_backup_is_refused_and_nothing_is_restored(
    reference_data, documents_root, backup_dir, fresh_database
):
    call_command("backup", stdout=io.StringIO())
    dump = only_backup_in(backup_dir) / "db.dump"
    content = bytearray(dump.read_bytes())
    content[len(content) // 2] ^= 0x01
    dump.write_bytes(bytes(content))

    with pytest.raises(CommandError, match=r"damaged: db\.dump does not match its recorded checksum"):
        restore(dump.parent, fresh_database.url, documents_root)
    with psycopg.connect(fresh_database.url) as restored, restored.cursor() as cursor:
        assert row_counts(cursor) == {}


def test_a_backup_missing_a_file_is_refused(reference_data, documents_root, backup_dir, fresh_database):
    call_command("backup", stdout=io.StringIO())
    backup = only_backup_in(backup_dir)
    (backup / "documents.tar.gz").unlink()

    with pytest.raises(CommandError, match=r"documents\.tar\.gz is missing"):
        restore(backup, fresh_database.url, documents_root)


def test_a_folder_without_a_manifest_is_refused(reference_data, documents_root, tmp_path, fresh_database):
    with pytest.raises(CommandError, match=r"no manifest\.json"):
        restore(tmp_path, fresh_database.url, documents_root)


def test_a_database_with_tables_is_refused_unless_forced(clinic, backup_dir, fresh_database, tmp_path):
    call_command("backup", stdout=io.StringIO())
    backup = only_backup_in(backup_dir)
    restored_documents = tmp_path / "restored-documents"
    restore(backup, fresh_database.url, restored_documents)
    with psycopg.connect(fresh_database.url, autocommit=True) as restored, restored.cursor() as cursor:
        append_with_sql(cursor, "later")

    with pytest.raises(CommandError, match=r"already has \d+ tables.*--force"):
        restore(backup, fresh_database.url, restored_documents)

    # --force replaces the restored objects with the backup's: the row written since is gone again.
    summary = restore(backup, fresh_database.url, restored_documents, "--force")
    assert "audit trail is intact" in summary
    with psycopg.connect(fresh_database.url) as restored, restored.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM audit_auditevent WHERE actor_username = 'later'")
        assert cursor.fetchone()[0] == 0


def test_restore_reports_a_document_whose_file_differs(clinic, backup_dir, fresh_database, documents_root, tmp_path):
    """The archive is intact but a file in it was already bad when it was backed up: restore says which."""
    damaged = clinic.documents[0]
    (documents_root / damaged.file_name).write_bytes(b"%PDF-1.7 not the document that was made")
    with pytest.raises(CommandError, match="1 documents failed their check"):
        call_command("backup", stdout=io.StringIO())  # written all the same, and said so

    with pytest.raises(CommandError, match=rf"these checks failed:\s+document {damaged.pk}: its file does not match"):
        restore(only_backup_in(backup_dir), fresh_database.url, tmp_path / "restored-documents")


def test_a_backup_from_a_newer_server_is_refused_before_anything_is_loaded(
    reference_data, documents_root, backup_dir, fresh_database
):
    call_command("backup", stdout=io.StringIO())
    backup = only_backup_in(backup_dir)
    manifest = json.loads((backup / "manifest.json").read_text())
    server = manifest["database"]["server_major"]
    manifest["database"]["server_major"] = server + 1
    (backup / "manifest.json").write_text(json.dumps(manifest))

    with pytest.raises(CommandError, match=rf"taken from PostgreSQL {server + 1}.*runs PostgreSQL {server}\."):
        restore(backup, fresh_database.url, documents_root)
    with psycopg.connect(fresh_database.url) as restored, restored.cursor() as cursor:
        assert row_counts(cursor) == {}


def test_restore_reports_an_altered_audit_trail(clinic, backup_dir, fresh_database, tmp_path):
    """Someone with the power to switch the append-only trigger off edited an event: restore names the event."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT min(id) FROM audit_auditevent")
        altered = cursor.fetchone()[0]
        cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_event_append_only")
        cursor.execute("UPDATE audit_auditevent SET actor_username = 'someone-else' WHERE id = %s", [altered])
        cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER audit_event_append_only")
    call_command("backup", stdout=io.StringIO())

    with pytest.raises(CommandError, match=rf"hash chain is broken at event {altered}$"):
        restore(only_backup_in(backup_dir), fresh_database.url, tmp_path / "restored-documents")


def test_every_backup_records_the_audit_chain_head_and_the_check_names_a_tail_cut_since(
    clinic, backup_dir, tmp_path, settings
):
    """The manifest keeps the head outside the database: events later cut from the trail's end are named."""
    settings.AUDIT_HEAD_FILE = tmp_path / "no-head-file.log"
    call_command("backup", stdout=io.StringIO())
    backup = only_backup_in(backup_dir)
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, hash FROM audit_auditevent ORDER BY id DESC LIMIT 2")
        (last_id, last_hash), (kept_id, _) = cursor.fetchall()
    head = json.loads((backup / "manifest.json").read_text())["audit_head"]
    assert (head["last_id"], head["hash"]) == (last_id, last_hash)
    assert head["recorded_at"]

    out = io.StringIO()
    call_command("audit_verify", "--backup", str(backup), stdout=out)
    assert "checked against 1 recorded head" in out.getvalue()
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_event_append_only")
        cursor.execute("DELETE FROM audit_auditevent WHERE id = %s", [last_id])
        cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER audit_event_append_only")
    with pytest.raises(CommandError, match=rf"events after event {kept_id} are missing: .*backup {backup.name}"):
        call_command("audit_verify")  # every backup in BACKUP_DIR by default


def test_a_failed_backup_leaves_nothing_behind(reference_data, documents_root, backup_dir, monkeypatch):
    def no_tool(name, at_least):
        raise postgres.BackupError(f"No {name} for PostgreSQL {at_least} or later.")

    monkeypatch.setattr("pit_portal.backups.create.find_tool", no_tool)
    with pytest.raises(CommandError, match=r"No pg_dump for PostgreSQL \d+ or later"):
        call_command("backup", stdout=io.StringIO())
    assert list(backup_dir.iterdir()) == []


def test_every_ready_document_is_checked_against_its_digest_as_it_is_copied(clinic, backup_dir):
    call_command("backup", stdout=io.StringIO())
    documents = json.loads((only_backup_in(backup_dir) / "manifest.json").read_text())["documents"]
    count = len(clinic.documents)
    assert documents == {"files": count, "checked": count, "missing": [], "mismatched": []}


def backup_naming(damaged, missing, backup_dir) -> dict:
    """Back up, expecting the command to fail naming the damaged and the missing document; the backup is still
    written (it is the best copy there is) and its manifest names both. Returns the manifest's documents."""
    with pytest.raises(CommandError) as refusal:
        call_command("backup", stdout=io.StringIO())
    assert f"{damaged.file_name}: does not match" in str(refusal.value)
    assert f"{missing.file_name}: missing" in str(refusal.value)
    documents = json.loads((only_backup_in(backup_dir) / "manifest.json").read_text())["documents"]
    assert (documents["mismatched"], documents["missing"]) == ([damaged.file_name], [missing.file_name])
    return documents


def test_a_damaged_or_missing_document_is_named_and_the_backup_says_so(clinic, backup_dir, documents_root):
    damaged, missing = clinic.documents[0], clinic.documents[1]
    (documents_root / damaged.file_name).write_bytes(b"%PDF-1.7 not what was signed")
    (documents_root / missing.file_name).unlink()
    backup_naming(damaged, missing, backup_dir)


@pytest.mark.parametrize("target", ["backup", "restore"])
def test_operations_commands_install_nothing(tmp_path, target):
    """On a host built from requirements.txt alone, make backup / restore must not reach for the network."""
    planned = subprocess.run(
        ["make", "-n", target, f"BIN={tmp_path}/no-virtualenv/bin", "FROM=somewhere"],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    assert planned.returncode == 0, planned.stderr
    assert "pip" not in planned.stdout
    assert "manage.py" in planned.stdout


def test_a_restore_clears_the_shared_cache(clinic, backup_dir, fresh_database, tmp_path):
    """The restored database hands out diary versions again that calendars may already be cached under."""
    from django.core.cache import cache

    call_command("backup", stdout=io.StringIO())
    cache.set("scheduling:calendar:cached-before-the-restore", "stale markup")
    restore(only_backup_in(backup_dir), fresh_database.url, tmp_path / "restored-documents")
    assert cache.get("scheduling:calendar:cached-before-the-restore") is None


# --- documents in an S3-compatible bucket ---------------------------------------------------------------------


def test_a_bucket_is_backed_up_checked_and_restored_into_a_fresh_bucket(
    clinic_in_a_bucket, documents_bucket, backup_dir, fresh_database, settings, monkeypatch, clinician_client
):
    recorded = {document.file_name: document.sha256 for document in clinic_in_a_bucket.documents}
    out = io.StringIO()
    call_command("backup", stdout=out)
    assert "4 files, 4 checked against their SHA-256" in out.getvalue()

    backup = only_backup_in(backup_dir)
    documents = json.loads((backup / "manifest.json").read_text())["documents"]
    assert documents == {"files": 4, "checked": 4, "missing": [], "mismatched": []}
    with tarfile.open(backup / "documents.tar.gz") as archive:
        archived = {
            member.name: hashlib.sha256(archive.extractfile(member).read()).hexdigest()
            for member in archive.getmembers()
        }
    assert archived == recorded  # the same layout as from a folder: names relative to the store

    # Restored into a new, empty bucket (the portal configured for it, as after losing the old one).
    fresh = documents_bucket.store.new_bucket()
    point_documents_at(settings, monkeypatch, documents_bucket.store.environ(fresh))
    summary = restore(backup, fresh_database.url, None)
    assert "4 stored documents" in summary and "every document matches its checksum" in summary
    restored = SimpleNamespace(client=documents_bucket.client, name=fresh)
    assert bucket_objects(restored) == recorded  # each with the SHA-256 S3 keeps, as when it was first stored

    document = clinic_in_a_bucket.documents[0]
    response = clinician_client.get(reverse("documents:download", args=[document.pk]))
    assert response.status_code == 200
    assert hashlib.sha256(response.content).hexdigest() == document.sha256


def test_a_damaged_or_missing_object_in_the_bucket_is_named_by_the_backup(
    clinic_in_a_bucket, documents_bucket, backup_dir
):
    damaged, missing = clinic_in_a_bucket.documents[0], clinic_in_a_bucket.documents[1]
    bucket, client = documents_bucket.name, documents_bucket.client
    client.put_object(Bucket=bucket, Key=damaged.file_name, Body=b"%PDF-1.7 not what was signed")
    client.delete_object(Bucket=bucket, Key=missing.file_name)

    documents = backup_naming(damaged, missing, backup_dir)
    assert (documents["files"], documents["checked"]) == (3, 3)


def test_a_backup_while_the_bucket_is_unreachable_fails_and_leaves_nothing(
    clinic_in_a_bucket, documents_bucket, backup_dir, settings, monkeypatch
):
    down = {**documents_bucket.environ, "DOCUMENTS_S3_ENDPOINT_URL": unreachable_endpoint()}
    point_documents_at(settings, monkeypatch, down)
    with pytest.raises(CommandError, match=r"Nothing was backed up: the document store did not answer"):
        call_command("backup", stdout=io.StringIO())
    assert list(backup_dir.iterdir()) == []
