"""The audit chain is keyed: each event gets `mac`, an HMAC of its fields under AUDIT_CHAIN_KEY, a key the database
never holds, computed by the application as it writes the event (audit.chain). The chaining trigger of migration
0002 stays (it takes the chain's lock, gives the event its id and links it to the newest one); the digest it links
with now covers the MAC too, so a link can only be recomputed over events whose MACs are genuine.

Existing events are keyed in place rather than left behind a boundary: the old chain is first checked in full,
and the migration stops if it is broken, so keying never launders an earlier change; then each event gets the MAC
of its fields under the key this migration runs with (the portal's own environment) and every link is
recomputed. One kind of row keeps the verifier simple, and behind a boundary the older rows would stay open to
anyone who can rewrite the table. It all happens in this migration's one transaction, which holds the chain's
lock from the start, so no event is written under the old rules in between.
"""

from django.db import migrations, models
from django.db.models import Q

BATCH = 5000

OLD_CHAIN_BREAK = """
SELECT id FROM (
    SELECT id, prev_hash, hash, audit_event_digest(e) AS expected, lag(hash) OVER (ORDER BY id) AS previous
    FROM audit_auditevent e
) checked
WHERE prev_hash <> coalesce(previous, repeat('0', 64)) OR hash <> expected
ORDER BY id LIMIT 1
"""

KEYED_FIELDS_AFTER = """
SELECT id, occurred_at, actor_id, actor_username, action, patient_id, object_type, object_id, detail::text, source,
       host(ip_address), path
FROM audit_auditevent WHERE id > %s ORDER BY id LIMIT %s
"""


def _fetch(cursor, sql: str, params: list) -> list:
    cursor.execute(sql, params)
    return cursor.fetchall()


def key_existing_events(apps, schema_editor) -> None:
    from audit.chain import chain_key, event_mac

    key = chain_key()
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(7411002)")  # the chaining trigger's lock: no insert meanwhile
        broken = _fetch(cursor, OLD_CHAIN_BREAK, [])
        if broken:
            raise RuntimeError(
                f"The audit trail's chain is broken at event {broken[0][0]}: it is not keyed, which would hide the "
                "change. Keep the database and its backups as they are and investigate before migrating."
            )
        cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_event_append_only")
        after = 0
        while rows := _fetch(cursor, KEYED_FIELDS_AFTER, [after, BATCH]):
            macs = [(event_mac(fields, key), event_id) for event_id, *fields in rows]
            cursor.executemany("UPDATE audit_auditevent SET mac = %s WHERE id = %s", macs)
            after = rows[-1][0]
        cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER audit_event_append_only")


# Replaces the digest the trigger links with, and recomputes every link with it, in id order.
RELINK = """
CREATE OR REPLACE FUNCTION audit_event_digest(e audit_auditevent) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT encode(sha256(convert_to(jsonb_build_array(DIGEST_FIELDS)::text, 'UTF8')), 'hex')
$$;

ALTER TABLE audit_auditevent DISABLE TRIGGER audit_event_append_only;
DO $$
DECLARE
    event audit_auditevent;
    previous text := repeat('0', 64);
BEGIN
    FOR event IN SELECT * FROM audit_auditevent ORDER BY id LOOP
        event.prev_hash := previous;
        previous := audit_event_digest(event);
        UPDATE audit_auditevent SET prev_hash = event.prev_hash, hash = previous WHERE id = event.id;
    END LOOP;
END $$;
ALTER TABLE audit_auditevent ENABLE TRIGGER audit_event_append_only;
"""


def _relink(digest_fields: str) -> str:
    return RELINK.replace("DIGEST_FIELDS", digest_fields)


UNKEYED_FIELDS = """
        e.prev_hash, e.id, (extract(epoch FROM e.occurred_at) * 1000000)::bigint, e.actor_id, e.actor_username,
        e.action, e.patient_id, e.object_type, e.object_id, e.detail, e.source, host(e.ip_address), e.path"""


class Migration(migrations.Migration):
    dependencies = [("audit", "0004_password_reset_requested")]

    operations = [
        migrations.AddField(
            model_name="auditevent",
            name="mac",
            field=models.CharField(blank=True, editable=False, max_length=64),
        ),
        migrations.RunPython(key_existing_events, migrations.RunPython.noop),
        migrations.RunSQL(_relink(UNKEYED_FIELDS + ", e.mac"), _relink(UNKEYED_FIELDS)),
        migrations.AddConstraint(
            model_name="auditevent",
            constraint=models.CheckConstraint(
                condition=Q(
                    prev_hash__regex="^[0-9a-f]{64}$", hash__regex="^[0-9a-f]{64}$", mac__regex="^[0-9a-f]{64}$"
                ),
                name="audit_event_hashes_are_hex_sha256",
            ),
        ),
    ]
