"""Tampering by someone who owns the database is named: the chain is keyed by a secret the database does not
hold, and its head is recorded outside the database (a head file, the log, every backup)."""

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction
from django.urls import reverse

from audit import heads
from audit.models import Action, AuditEvent, Source
from audit.services import record, verify_chain
from audit.tasks import record_chain_head
from pit_portal.celery import app as celery_app


@pytest.fixture(autouse=True)
def head_file(tmp_path, settings):
    settings.AUDIT_HEAD_FILE = tmp_path / "audit-head.log"
    settings.BACKUP_DIR = tmp_path / "backups"
    return settings.AUDIT_HEAD_FILE


def trail(count: int) -> list[AuditEvent]:
    return [record(Action.EXPORT, username=f"user{n}", detail={"n": n}, source=Source.COMMAND) for n in range(count)]


def as_owner(*statements: tuple[str, list]) -> None:
    """The table's owner switches every trigger off, runs the statements and switches them on again.
    In the test's transaction, so all of it is rolled back afterwards."""
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER ALL")
        for sql, params in statements:
            cursor.execute(sql, params)
        cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER ALL")


# What the table's owner can do without the key: recompute every link from the altered row on, with the very
# digest the database links with.
RELINK_FROM = """
DO $$
DECLARE
    event audit_auditevent;
    previous text := coalesce((SELECT hash FROM audit_auditevent WHERE id < %(first)s ORDER BY id DESC LIMIT 1),
                              repeat('0', 64));
BEGIN
    FOR event IN SELECT * FROM audit_auditevent WHERE id >= %(first)s ORDER BY id LOOP
        event.prev_hash := previous;
        previous := audit_event_digest(event);
        UPDATE audit_auditevent SET prev_hash = event.prev_hash, hash = previous WHERE id = event.id;
    END LOOP;
END $$
"""


def test_a_clean_chain_passes_against_its_recorded_heads(db, capsys):
    trail(3)
    heads.chain_head_record()
    trail(2)
    check = verify_chain(heads.recorded_heads())
    assert check.intact and check.rows == 5 and check.heads_checked == 1
    call_command("audit_verify")
    assert "intact: 5 events checked against 1 recorded head" in capsys.readouterr().out


def test_a_row_changed_and_every_later_hash_recomputed_without_the_key_is_named(db):
    written = trail(5)
    altered = written[2]
    as_owner(
        ("UPDATE audit_auditevent SET action = 'login' WHERE id = %s", [altered.pk]),
        (RELINK_FROM, {"first": altered.pk}),
    )
    check = verify_chain()
    assert check.first_broken_id == altered.pk
    assert "altered" in check.problem
    with pytest.raises(CommandError, match=rf"broken at event {altered.pk}\b"):
        call_command("audit_verify")


def test_the_chain_needs_the_key_it_was_written_with(db, settings):
    written = trail(2)
    assert verify_chain().intact
    settings.AUDIT_CHAIN_KEY = "not the key the trail was written with"
    assert verify_chain().first_broken_id == written[0].pk


def test_newest_rows_deleted_are_named_against_the_recorded_head(db):
    written = trail(5)
    heads.chain_head_record()
    as_owner(("DELETE FROM audit_auditevent WHERE id > %s", [written[2].pk]))
    check = verify_chain(heads.recorded_heads())
    assert not check.intact
    assert check.first_broken_id is None  # what is left is a perfectly good chain: only the head shows the cut
    assert f"events after event {written[2].pk} are missing" in check.missing
    assert f"event {written[4].pk}" in check.missing
    with pytest.raises(CommandError, match=rf"events after event {written[2].pk} are missing"):
        call_command("audit_verify")


def test_an_emptied_table_is_named_against_the_recorded_head(db):
    written = trail(3)
    heads.chain_head_record()
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("TRUNCATE audit_auditevent")
    check = verify_chain(heads.recorded_heads())
    assert check.rows == 0 and not check.intact
    assert "the table is empty, but the head recorded at" in check.missing
    assert f"event {written[2].pk}" in check.missing
    with pytest.raises(CommandError, match="the table is empty"):
        call_command("audit_verify")


def test_the_head_is_written_to_the_log_and_the_head_file(db, head_file, caplog):
    last = trail(2)[-1]
    last.refresh_from_db()
    with caplog.at_level("INFO", logger="audit.chain"):
        head = heads.chain_head_record()
    assert (head.last_id, head.hash) == (last.pk, last.hash)
    line = f"audit-chain-head last_id={last.pk} hash={last.hash} at="
    assert line in caplog.text
    assert head_file.read_text().startswith(line)
    # A copy of the portal's log, timestamps and all, is read the same way as the head file.
    copied_log = head_file.with_name("portal.log")
    copied_log.write_text(f"2026-12-06 00:05:00,123 INFO audit.chain {caplog.records[-1].getMessage()}\n")
    [from_log] = heads.read_heads(copied_log)
    assert (from_log.last_id, from_log.hash) == (last.pk, last.hash)


def test_celery_beat_records_the_head_every_few_minutes(db, head_file):
    entries = [entry for entry in celery_app.conf.beat_schedule.values() if entry["task"].startswith("audit.")]
    assert [entry["task"] for entry in entries] == ["audit.tasks.record_chain_head"]
    last = trail(1)[0]
    record_chain_head()
    [head] = heads.read_heads(head_file)
    assert head.last_id == last.pk


def test_a_row_removed_and_the_later_links_recomputed_is_named_against_the_recorded_head(db):
    """Links need no key, so after a removal they can be recomputed; the head recorded since cannot."""
    written = trail(5)
    heads.chain_head_record()
    as_owner(
        ("DELETE FROM audit_auditevent WHERE id = %s", [written[1].pk]),
        (RELINK_FROM, {"first": written[2].pk}),
    )
    assert verify_chain().intact  # on its own the relinked chain is whole
    check = verify_chain(heads.recorded_heads())
    assert check.first_broken_id == written[4].pk
    assert "it is not the event the head recorded at" in check.problem


def test_an_event_written_with_sql_without_the_key_is_named(db):
    """The database chains a raw insert like any other (it holds no key to check), so its MAC gives it away."""
    written = trail(2)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO audit_auditevent (occurred_at, actor_username, action, object_type, object_id, detail, source,"
            " path, prev_hash, hash, mac) VALUES (now(), 'raw', 'export', '', '', '{}', 'command', '', '', '', %s)"
            " RETURNING id",
            ["f" * 64],
        )
        forged = cursor.fetchone()[0]
    check = verify_chain()
    assert (check.first_broken_id, check.rows) == (forged, len(written) + 1)
    assert "written without the key" in check.problem


def test_an_event_without_a_mac_is_refused(db):
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO audit_auditevent (occurred_at, actor_username, action, object_type, object_id, detail, source,"
            " path, prev_hash, hash, mac) VALUES (now(), 'raw', 'export', '', '', '{}', 'command', '', '', '', '')"
        )


def test_writing_an_event_is_one_query(db, django_assert_num_queries):
    """Every page that records a view writes an event: keying it costs no query."""
    trail(1)
    with django_assert_num_queries(1):
        record(Action.EXPORT, username="counted", source=Source.COMMAND)


def test_the_check_page_names_a_cut_tail_against_the_head_file(db, manager_client):
    written = trail(3)
    heads.chain_head_record()
    as_owner(("DELETE FROM audit_auditevent WHERE id = %s", [written[2].pk]))
    page = manager_client.post(reverse("audit:verify")).content.decode()
    assert "The audit trail has been cut" in page
    assert f"events after event {written[1].pk} are missing" in page


def test_details_read_back_as_the_database_writes_them_still_match_their_mac(db):
    """jsonb keeps numbers, not how Python wrote them: 1e+20 comes back as 100000000000000000000."""
    record(Action.EXPORT, username="numbers", detail={"big": 1e20, "small": 1.5e-7, "whole": 2.0, "n": [1, "é"]})
    assert verify_chain().intact


def test_a_head_file_that_cannot_be_read_is_reported_not_a_500(db, head_file, manager_client):
    trail(1)
    head_file.mkdir()  # reading a folder fails as an unreadable file does
    response = manager_client.post(reverse("audit:verify"))
    assert response.status_code == 200
    assert "could not be read" in response.content.decode()
    with pytest.raises(CommandError, match="could not be read"):
        call_command("audit_verify")


def test_the_head_reaches_the_log_whatever_the_log_level(settings):
    assert settings.LOGGING["loggers"]["audit.chain"]["level"] == "INFO"
