"""Migration outbox/0002: the documents app's per-visit ready emails become outbox rows, so a visit told before
is not told again and one still owed is sent by the outbox sweeper."""

import importlib

from django.db import connection

from pit_portal.outbox import services
from pit_portal.outbox.models import EmailKind, EmailStatus, OutboxEmail

migration = importlib.import_module("pit_portal.outbox.migrations.0002_ready_emails_from_documents")

# The table as documents/0004 made it (documents/0009 drops it once its rows are copied).
READY_EMAILS = """
CREATE TEMPORARY TABLE documents_readyemail (
    id serial PRIMARY KEY, session_id bigint UNIQUE, patient_id bigint, status varchar(10),
    created_at timestamptz, enqueued_at timestamptz, settled_at timestamptz
);
INSERT INTO documents_readyemail (session_id, patient_id, status, created_at, enqueued_at, settled_at) VALUES
    (11, 1, 'sent', now() - interval '3 days', now() - interval '3 days', now() - interval '3 days'),
    (12, 1, 'not_sent', now() - interval '2 days', now() - interval '2 days', now() - interval '2 days'),
    (13, 2, 'pending', now() - interval '1 hour', now() - interval '1 hour', NULL);
"""


def test_ready_emails_move_to_the_outbox_keeping_what_was_sent(db):
    with connection.cursor() as cursor:
        cursor.execute(READY_EMAILS)
        cursor.execute(migration.FORWARD)
    rows = OutboxEmail.objects.order_by("object_id").values_list("kind", "object_id", "status")
    assert list(rows) == [
        (EmailKind.AFTERCARE_READY, 11, EmailStatus.SENT),
        (EmailKind.AFTERCARE_READY, 12, EmailStatus.NOT_SENT),
        (EmailKind.AFTERCARE_READY, 13, EmailStatus.PENDING),
    ]
    # The same key a ready sheet owes its visit's email with: a later version owes nothing new.
    assert services.email_owe(kind=EmailKind.AFTERCARE_READY, object_id=11) is None
    assert services.emails_sweep() == [OutboxEmail.objects.get(object_id=13).pk]  # still owed: sent by the sweeper
