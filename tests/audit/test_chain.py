"""The trail is append-only and tamper-evident: PostgreSQL refuses changes, and the hash chain shows any
change made by someone able to switch that refusal off."""

import threading

import pytest
from django.core.management import CommandError, call_command
from django.db import ProgrammingError, connection, connections, transaction

from audit import services
from audit.models import GENESIS_HASH, Action, AuditEvent, Source
from audit.services import record, verify_chain
from tests.audit.helpers import bypass_append_only


def trail(count: int) -> list[AuditEvent]:
    return [record(Action.EXPORT, username=f"user{n}", detail={"n": n}, source=Source.COMMAND) for n in range(count)]


def chain_links() -> list[tuple[int, str, str]]:
    return list(AuditEvent.objects.order_by("id").values_list("id", "prev_hash", "hash"))


def assert_chained(links: list[tuple[int, str, str]]) -> None:
    previous_id, previous_hash = 0, GENESIS_HASH
    for event_id, prev_hash, own_hash in links:
        assert event_id > previous_id
        assert prev_hash == previous_hash
        assert len(own_hash) == 64 and own_hash != prev_hash
        previous_id, previous_hash = event_id, own_hash


def test_record_fills_in_the_hashes_and_the_chain_verifies(db, capsys):
    written = trail(3)
    for event in written:
        event.refresh_from_db()
    assert written[0].prev_hash == GENESIS_HASH
    assert [event.prev_hash for event in written[1:]] == [event.hash for event in written[:-1]]
    assert_chained(chain_links())
    assert verify_chain() == services.ChainCheck(rows=3)
    call_command("audit_verify")
    assert "intact: 3 events" in capsys.readouterr().out


@pytest.mark.parametrize(
    "sql",
    ["UPDATE audit_auditevent SET action = 'login' WHERE id = %s", "DELETE FROM audit_auditevent WHERE id = %s"],
    ids=["update", "delete"],
)
def test_the_database_refuses_to_change_or_remove_an_event(db, sql):
    event = trail(2)[0]
    with pytest.raises(ProgrammingError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, [event.pk])
    assert AuditEvent.objects.filter(pk=event.pk, action=Action.EXPORT).exists()


def test_the_orm_cannot_change_or_remove_an_event_either(db):
    event = trail(1)[0]
    with pytest.raises(ProgrammingError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(detail={"n": 99})
    with pytest.raises(ProgrammingError), transaction.atomic():
        event.delete()
    assert AuditEvent.objects.get(pk=event.pk).detail == {"n": 0}


def test_an_event_altered_with_the_trigger_switched_off_is_named(db):
    written = trail(5)
    altered = written[2]
    bypass_append_only("UPDATE audit_auditevent SET action = 'login' WHERE id = %s", [altered.pk])
    check = verify_chain()
    assert check.first_broken_id == altered.pk
    assert "altered" in check.problem
    with pytest.raises(CommandError, match=rf"broken at event {altered.pk}\b"):
        call_command("audit_verify")


def test_an_event_removed_with_the_trigger_switched_off_is_named_by_the_next_one(db):
    written = trail(5)
    bypass_append_only("DELETE FROM audit_auditevent WHERE id = %s", [written[2].pk])
    check = verify_chain()
    assert check.first_broken_id == written[3].pk
    assert "removed" in check.problem
    with pytest.raises(CommandError, match=rf"broken at event {written[3].pk}\b"):
        call_command("audit_verify")


def test_removing_the_first_event_is_noticed_too(db):
    written = trail(3)
    bypass_append_only("DELETE FROM audit_auditevent WHERE id = %s", [written[0].pk])
    assert verify_chain().first_broken_id == written[1].pk


def test_verification_streams_the_trail_through_a_server_side_cursor(db, monkeypatch):
    trail(10)
    monkeypatch.setattr(services, "VERIFY_BATCH", 3)
    seen = {}
    first_break = services.first_break

    def watching(rows, **options):
        with connection.cursor() as cursor:
            streaming = ["%FROM audit_auditevent%ORDER BY id%"]
            cursor.execute("SELECT count(*) FROM pg_cursors WHERE statement ILIKE %s", streaming)
            seen["server_side_cursors"] = cursor.fetchone()[0]
        return first_break(rows, **options)

    monkeypatch.setattr(services, "first_break", watching)
    assert verify_chain() == services.ChainCheck(rows=10)
    assert seen["server_side_cursors"] == 1


def test_an_empty_trail_is_intact(db):
    assert verify_chain() == services.ChainCheck(rows=0)


WRITERS = 8
EACH = 25


def test_concurrent_writers_leave_one_unbroken_chain(transactional_db):
    start = threading.Barrier(WRITERS)
    failures = []

    def write(writer: int) -> None:
        try:
            start.wait(timeout=30)
            for n in range(EACH):
                record(Action.EXPORT, username=f"writer{writer}", detail={"n": n}, source=Source.COMMAND)
        except Exception as error:  # reported below: an exception in a thread does not fail the test itself
            failures.append(error)
        finally:
            connections.close_all()  # each thread had its own connection

    threads = [threading.Thread(target=write, args=(writer,)) for writer in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert failures == []
    links = chain_links()
    assert len(links) == WRITERS * EACH
    assert_chained(links)
    assert verify_chain() == services.ChainCheck(rows=WRITERS * EACH)
    per_writer = AuditEvent.objects.values_list("actor_username", flat=True)
    assert sorted(set(per_writer)) == sorted(f"writer{writer}" for writer in range(WRITERS))
