"""Visits whose aftercare sheet was ready before ready emails were recorded were emailed then, as each sheet
became ready: record them as told, so a later version of their sheet sends no second email. Reversing removes
only these rows."""

from django.db import migrations

FORWARD = """
INSERT INTO documents_readyemail (session_id, patient_id, status, created_at, settled_at)
SELECT session_id, MIN(patient_id), 'sent', MIN(ready_at), MIN(ready_at)
FROM documents_document
WHERE kind = 'aftercare' AND status = 'ready'
GROUP BY session_id
ON CONFLICT (session_id) DO NOTHING
"""

# Only the rows made above: the portal's own are enqueued when made, and settled later than they were made.
REVERSE = """
DELETE FROM documents_readyemail WHERE status = 'sent' AND enqueued_at IS NULL AND created_at = settled_at
"""


class Migration(migrations.Migration):
    dependencies = [("documents", "0004_ready_email_once_per_visit")]

    operations = [migrations.RunSQL(FORWARD, REVERSE)]
