"""A delayed reaction still refuses every UPDATE and DELETE, except, while a patient is anonymised after their
retention period (patients/0009), an UPDATE of its description to the placeholder."""

from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION safety_refuse_delayed_reaction_change() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND pit_anonymising_free_text(
        to_jsonb(OLD), to_jsonb(NEW), ARRAY['description'], ARRAY[]::text[]
    ) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'delayed reaction % is kept as the patient reported it: record what was done in its follow-up',
        OLD.id USING ERRCODE = 'restrict_violation';
END
$$ LANGUAGE plpgsql;
"""

REVERSE = """
CREATE OR REPLACE FUNCTION safety_refuse_delayed_reaction_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'delayed reaction % is kept as the patient reported it: record what was done in its follow-up',
        OLD.id USING ERRCODE = 'restrict_violation';
END
$$ LANGUAGE plpgsql;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("safety", "0002_reactions_as_reported_and_dates_plausible"),
        ("patients", "0009_anonymising_free_text"),
    ]

    operations = [migrations.RunSQL(FORWARD, REVERSE)]
