"""The documents app's per-visit ready emails become outbox rows of the same kind, keyed by the visit, so a visit
told before is never told again and one still owed is sent by the outbox sweeper. Reversing copies them back."""

from django.db import migrations

FORWARD = """
INSERT INTO outbox_outboxemail
    (kind, object_id, dedupe_key, status, attempts, last_error, created_at, enqueued_at, settled_at)
SELECT 'aftercare_ready', session_id, 'aftercare_ready:' || session_id || ':', status,
       CASE WHEN status = 'pending' THEN 0 ELSE 1 END, '', created_at, enqueued_at, settled_at
FROM documents_readyemail
ON CONFLICT (dedupe_key) DO NOTHING
"""

REVERSE = """
INSERT INTO documents_readyemail (session_id, patient_id, status, created_at, enqueued_at, settled_at)
SELECT o.object_id, s_course.patient_id, CASE WHEN o.status = 'failed' THEN 'not_sent' ELSE o.status END,
       o.created_at, o.enqueued_at, o.settled_at
FROM outbox_outboxemail o
JOIN treatments_injectionsession s ON s.id = o.object_id
JOIN treatments_treatmentcourse s_course ON s_course.id = s.course_id
WHERE o.kind = 'aftercare_ready'
ON CONFLICT (session_id) DO NOTHING;
DELETE FROM outbox_outboxemail WHERE kind = 'aftercare_ready';
"""


class Migration(migrations.Migration):
    dependencies = [("outbox", "0001_outbox_email"), ("documents", "0008_document_claims_and_rebuilds")]

    operations = [migrations.RunSQL(FORWARD, REVERSE)]
