"""The one way past the triggers that keep signed notes, addenda and reported reactions unchanged: while
`patients.anonymise` anonymises a patient whose retention period is over, it sets `pit.anonymising` for its own
transaction (`set_config(..., true)`), and those triggers then let an UPDATE through that changes nothing but the
row's free-text columns, each to the placeholder, and the columns derived from them (a signed note's SHA-256).
Deleting stays refused, and so does any other change, anonymising or not."""

from django.db import migrations

FORWARD = """
CREATE FUNCTION pit_anonymising_free_text(old_row jsonb, new_row jsonb, free_text text[], derived text[])
RETURNS boolean AS $$
    SELECT coalesce(current_setting('pit.anonymising', true), '') = 'on'
       AND (old_row - free_text - derived) = (new_row - free_text - derived)
       AND NOT EXISTS (
           SELECT 1 FROM unnest(free_text) AS col
           WHERE new_row ->> col IS DISTINCT FROM old_row ->> col AND new_row ->> col <> '[anonymised]'
       )
$$ LANGUAGE sql STABLE;
"""

REVERSE = "DROP FUNCTION pit_anonymising_free_text(jsonb, jsonb, text[], text[]);"


class Migration(migrations.Migration):
    dependencies = [("patients", "0008_data_requests_restriction_anonymisation")]

    operations = [migrations.RunSQL(FORWARD, REVERSE)]
