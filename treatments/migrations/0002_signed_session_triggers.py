"""Signed session notes, their sites and adverse events, and all addenda are immutable in the
database itself: these triggers refuse UPDATE and DELETE even from raw SQL."""

from django.db import migrations

FORWARD = """
CREATE FUNCTION treatments_refuse_signed_session_change() RETURNS trigger AS $$
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

CREATE TRIGGER treatments_signed_session_immutable
    BEFORE UPDATE OR DELETE ON treatments_injectionsession
    FOR EACH ROW EXECUTE FUNCTION treatments_refuse_signed_session_change();

-- Rows that belong to a session (sites, adverse events) cannot be added, changed or removed
-- once that session is signed, nor moved to or from a signed session.
CREATE FUNCTION treatments_refuse_change_under_signed_session() RETURNS trigger AS $$
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

CREATE TRIGGER treatments_signed_site_immutable
    BEFORE INSERT OR UPDATE OR DELETE ON treatments_injectionsite
    FOR EACH ROW EXECUTE FUNCTION treatments_refuse_change_under_signed_session();

CREATE TRIGGER treatments_signed_adverse_event_immutable
    BEFORE INSERT OR UPDATE OR DELETE ON treatments_adverseevent
    FOR EACH ROW EXECUTE FUNCTION treatments_refuse_change_under_signed_session();

CREATE FUNCTION treatments_refuse_addendum_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'addenda are permanent: add another addendum instead'
        USING ERRCODE = 'restrict_violation';
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER treatments_addendum_append_only
    BEFORE UPDATE OR DELETE ON treatments_sessionaddendum
    FOR EACH ROW EXECUTE FUNCTION treatments_refuse_addendum_change();
"""

REVERSE = """
DROP TRIGGER treatments_addendum_append_only ON treatments_sessionaddendum;
DROP FUNCTION treatments_refuse_addendum_change();
DROP TRIGGER treatments_signed_adverse_event_immutable ON treatments_adverseevent;
DROP TRIGGER treatments_signed_site_immutable ON treatments_injectionsite;
DROP FUNCTION treatments_refuse_change_under_signed_session();
DROP TRIGGER treatments_signed_session_immutable ON treatments_injectionsession;
DROP FUNCTION treatments_refuse_signed_session_change();
"""


class Migration(migrations.Migration):
    dependencies = [("treatments", "0001_initial")]

    operations = [migrations.RunSQL(FORWARD, REVERSE)]
