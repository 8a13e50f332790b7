"""Reading and tampering with the audit trail in tests; also used by tests/security."""

import re

from django.db import connection
from django.utils import timezone

from audit.chain import chain_key, event_mac
from audit.models import AuditEvent


def events(action, **fields) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action, **fields).order_by("id"))


def comparable(content: bytes) -> bytes:
    """A page without what differs from one request to the next: CSRF tokens and the idle timer's seconds."""
    tokens = rb'("X-CSRFToken": "|name="csrfmiddlewaretoken" value="|name="csrf-token" content=")[^"]*'
    return re.sub(rb'data-session-idle-seconds="\d+"', b"", re.sub(tokens, rb"\1", content))


def bypass_append_only(sql: str, params=()) -> None:
    """Run `sql` on the audit table as a superuser who switched its append-only trigger off (an attacker
    with database access). Inside the test's transaction, so it is all rolled back afterwards.

    SET CONSTRAINTS first: ALTER TABLE refuses a table with deferred foreign-key checks still pending."""
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_event_append_only")
        cursor.execute(sql, params)
        cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER audit_event_append_only")


INSERT_SQL = """
INSERT INTO audit_auditevent (occurred_at, actor_id, actor_username, action, patient_id, object_type, object_id,
                              detail, source, ip_address, path, prev_hash, hash, mac)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, '', '', %s)
RETURNING prev_hash
"""


def append_with_sql(cursor, username: str) -> str:
    """Write an EXPORT event with its keyed MAC as record() does, over any DB-API cursor (a restored database's,
    say); the database chains it. Returns its prev_hash."""
    fields = [timezone.now(), None, username, "export", None, "", "", "{}", "command", None, ""]
    cursor.execute(INSERT_SQL, [*fields, event_mac(fields, chain_key())])
    return cursor.fetchone()[0]
