"""Migration 0005 keys the trail written before the chain was keyed, and refuses to launder a broken one."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from audit.chain import ChainCheck
from audit.services import verify_chain
from pit_portal.backups.postgres import Database
from pit_portal.backups.restore import audit_chain_problems

UNKEYED = [("audit", "0004_password_reset_requested")]
KEYED = [("audit", "0005_keyed_hash_chain")]
# With migration 0002's trigger, the database itself chains a raw insert (prev_hash and hash are filled in).
RAW_INSERT = (
    "INSERT INTO audit_auditevent (occurred_at, actor_username, action, object_type, object_id, detail, source,"
    " ip_address, path, prev_hash, hash) VALUES (now(), %s, 'export', '', '', %s, 'command', %s, '', '', '')"
)


def migrate(targets) -> None:
    MigrationExecutor(connection).migrate(targets)


def write_unkeyed_trail() -> None:
    with connection.cursor() as cursor:
        for n, address in enumerate(["10.0.0.1", "2001:db8::1", None]):
            cursor.execute(RAW_INSERT, [f"before{n}", f'{{"n": {n}, "filters": {{"b": [1, 2], "a": "x"}}}}', address])


@pytest.fixture
def unkeyed_trail(transactional_db):
    migrate(UNKEYED)
    try:
        write_unkeyed_trail()
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE audit_auditevent")
        migrate(KEYED)


def test_the_trail_written_before_the_chain_was_keyed_is_keyed(unkeyed_trail):
    migrate(KEYED)
    assert verify_chain() == ChainCheck(rows=3)


def test_a_trail_already_broken_is_not_re_keyed(unkeyed_trail):
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_event_append_only")
        cursor.execute("UPDATE audit_auditevent SET actor_username = 'someone' WHERE actor_username = 'before1'")
        cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER audit_event_append_only")
    with pytest.raises(RuntimeError, match=r"broken at event \d+: it is not keyed"):
        migrate(KEYED)


def test_restoring_a_backup_from_before_the_keyed_trail_leaves_its_check_to_migrate(unkeyed_trail, tmp_path):
    """Restore checks a keyed trail itself; an older one is checked in full by migration 0005, which follows."""
    with Database.from_django(connection.settings_dict).connect(autocommit=True) as restored:
        assert audit_chain_problems(restored, tmp_path) == (0, [])
