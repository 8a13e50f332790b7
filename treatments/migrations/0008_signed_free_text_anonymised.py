"""Signed notes, their adverse events and addenda still refuse every UPDATE and DELETE, except, while a patient
is anonymised after their retention period (patients/0009), an UPDATE of their free text to the placeholder (with
the note's SHA-256 taken again over what it now holds)."""

from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION treatments_refuse_signed_session_change() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND pit_anonymising_free_text(
        to_jsonb(OLD), to_jsonb(NEW), ARRAY['notes', 'alert_override_reason'], ARRAY['content_sha256']
    ) THEN
        RETURN NEW;
    END IF;
    IF OLD.signed_at IS NOT NULL THEN
        RAISE EXCEPTION 'injection session % is signed and cannot be changed; add an addendum', OLD.id
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION treatments_refuse_change_under_signed_session() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND pit_anonymising_free_text(
        to_jsonb(OLD), to_jsonb(NEW),
        CASE TG_TABLE_NAME WHEN 'treatments_adverseevent' THEN ARRAY['note'] ELSE ARRAY[]::text[] END,
        ARRAY[]::text[]
    ) THEN
        RETURN NEW;
    END IF;
    IF EXISTS (
        SELECT 1 FROM treatments_injectionsession
        WHERE signed_at IS NOT NULL
          AND id IN (
              CASE WHEN TG_OP IN ('UPDATE', 'DELETE') THEN OLD.session_id END,
              CASE WHEN TG_OP IN ('UPDATE', 'INSERT') THEN NEW.session_id END
          )
    ) THEN
        RAISE EXCEPTION '% belongs to a signed injection session and cannot be changed', TG_TABLE_NAME
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION treatments_refuse_addendum_change() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND pit_anonymising_free_text(to_jsonb(OLD), to_jsonb(NEW), ARRAY['text'], ARRAY[]::text[])
    THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'addenda are permanent: add another addendum instead'
        USING ERRCODE = 'restrict_violation';
END
$$ LANGUAGE plpgsql;
"""

REVERSE = """
CREATE OR REPLACE FUNCTION treatments_refuse_signed_session_change() RETURNS trigger AS $$
BEGIN
    IF OLD.signed_at IS NOT NULL THEN
        RAISE EXCEPTION 'injection session % is signed and cannot be changed; add an addendum', OLD.id
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION treatments_refuse_change_under_signed_session() RETURNS trigger AS $$
BEGIN
    IF EXISTS (
        SELECT 1 FROM treatments_injectionsession
        WHERE signed_at IS NOT NULL
          AND id IN (
              CASE WHEN TG_OP IN ('UPDATE', 'DELETE') THEN OLD.session_id END,
              CASE WHEN TG_OP IN ('UPDATE', 'INSERT') THEN NEW.session_id END
          )
    ) THEN
        RAISE EXCEPTION '% belongs to a signed injection session and cannot be changed', TG_TABLE_NAME
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION treatments_refuse_addendum_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'addenda are permanent: add another addendum instead'
        USING ERRCODE = 'restrict_violation';
END
$$ LANGUAGE plpgsql;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("treatments", "0007_outcomes_report_indexes"),
        ("patients", "0009_anonymising_free_text"),
    ]

    operations = [migrations.RunSQL(FORWARD, REVERSE)]
