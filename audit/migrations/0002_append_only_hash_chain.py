"""The audit trail is append-only and tamper-evident, enforced by PostgreSQL itself.

- `audit_event_digest(row)`: SHA-256 over the canonical JSON array of a row's fields and the previous
  row's hash. The trigger and `manage.py audit_verify` both use it, so there is one definition.
- BEFORE INSERT: takes a transaction-level advisory lock (so rows are chained one at a time), gives
  the row the next id only then (so id order is chain order), and fills in prev_hash and hash. Raw
  SQL inserts are chained the same way.
- BEFORE UPDATE / DELETE: refused, for every role that is not allowed to disable triggers.

The lock is held until the inserting transaction ends; audit rows are written outside long
transactions (or at their end) for that reason.
"""

from django.db import migrations

# pg_advisory_xact_lock(7411002): any fixed number, the key that serialises audit inserts.
FORWARD = """
CREATE FUNCTION audit_event_digest(e audit_auditevent) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT encode(sha256(convert_to(jsonb_build_array(
        e.prev_hash,
        e.id,
        (extract(epoch FROM e.occurred_at) * 1000000)::bigint,
        e.actor_id,
        e.actor_username,
        e.action,
        e.patient_id,
        e.object_type,
        e.object_id,
        e.detail,
        e.source,
        host(e.ip_address),
        e.path
    )::text, 'UTF8')), 'hex')
$$;

CREATE FUNCTION audit_event_chain() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- Under REPEATABLE READ the previous row could be invisible and the chain would fork.
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'audit events must be written at READ COMMITTED isolation';
    END IF;
    PERFORM pg_advisory_xact_lock(7411002);
    -- A new statement inside a volatile function sees rows committed while we waited.
    NEW.id := nextval(pg_get_serial_sequence('audit_auditevent', 'id'));
    NEW.prev_hash := coalesce(
        (SELECT hash FROM audit_auditevent ORDER BY id DESC LIMIT 1),
        repeat('0', 64)
    );
    NEW.hash := audit_event_digest(NEW);
    RETURN NEW;
END;
$$;

CREATE FUNCTION audit_event_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only: % refused on audit event %', TG_OP, OLD.id
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER audit_event_chain BEFORE INSERT ON audit_auditevent
    FOR EACH ROW EXECUTE FUNCTION audit_event_chain();
CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON audit_auditevent
    FOR EACH ROW EXECUTE FUNCTION audit_event_refuse_change();
"""

BACKWARD = """
DROP TRIGGER audit_event_append_only ON audit_auditevent;
DROP TRIGGER audit_event_chain ON audit_auditevent;
DROP FUNCTION audit_event_refuse_change();
DROP FUNCTION audit_event_chain();
DROP FUNCTION audit_event_digest(audit_auditevent);
"""


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_audit_event")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
