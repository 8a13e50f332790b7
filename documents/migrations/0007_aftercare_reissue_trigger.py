"""The aftercare sheet names the patient's next appointment, so any change to the patient's appointments that
can change which one is next (or when, with whom, of what kind) makes a new pending version of their latest
sheet, written by the database in the transaction that made the change, however it was made (a booking, a
move, a cancellation, the admin site, a bulk update). The web process sends the render task after commit
(documents.services.render_pending_after_commit); the sweeper sends it if that message is lost.

"Next" here is what documents.context.next_appointment prints: the patient's earliest appointment after the
visit (and after now) that is not cancelled or missed, other than the visit's own appointment. The sheet's
version is left alone when the change lies before that window, or behind an appointment that stays next, and
when its current version has not been claimed by a worker yet (that render will read the change). The visit's
row is locked first, as documents.services.documents_request locks it, so an addendum and a booking at once
take turns."""

from django.db import migrations

FORWARD = """
CREATE FUNCTION documents_aftercare_reissue(patient bigint, changed_from timestamptz) RETURNS void AS $$
DECLARE
    visit bigint;
    visit_at timestamptz;
    window_start timestamptz;
    current_sheet documents_document%ROWTYPE;
BEGIN
    SELECT d.session_id, s.performed_at INTO visit, visit_at
    FROM documents_document d JOIN treatments_injectionsession s ON s.id = d.session_id
    WHERE d.patient_id = patient AND d.kind = 'aftercare' AND d.superseded_at IS NULL
    ORDER BY s.performed_at DESC, d.session_id DESC
    LIMIT 1;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    window_start := GREATEST(visit_at, now());
    IF changed_from <= window_start OR EXISTS (
        SELECT 1 FROM scheduling_appointment a
        WHERE a.patient_id = patient AND a.starts_at > window_start AND a.starts_at < changed_from
          AND a.status NOT IN ('cancelled', 'no_show') AND a.session_id IS DISTINCT FROM visit
    ) THEN
        RETURN;
    END IF;
    PERFORM 1 FROM treatments_injectionsession WHERE id = visit FOR UPDATE;
    SELECT * INTO current_sheet FROM documents_document
    WHERE session_id = visit AND kind = 'aftercare' AND superseded_at IS NULL
    FOR UPDATE;
    IF current_sheet.status = 'pending' AND current_sheet.attempts = 0 THEN
        RETURN;
    END IF;
    UPDATE documents_document SET superseded_at = clock_timestamp() WHERE id = current_sheet.id;
    INSERT INTO documents_document (
        patient_id, session_id, kind, version, status, file_name, sha256, attempts, last_error, enqueued_at, created_at
    ) VALUES (
        patient, visit, 'aftercare', current_sheet.version + 1, 'pending', '', '', 0, '', clock_timestamp(),
        clock_timestamp()
    );
END
$$ LANGUAGE plpgsql;

CREATE FUNCTION documents_appointment_changed() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM documents_aftercare_reissue(NEW.patient_id, NEW.starts_at);
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM documents_aftercare_reissue(OLD.patient_id, OLD.starts_at);
    ELSIF OLD.patient_id <> NEW.patient_id THEN
        PERFORM documents_aftercare_reissue(OLD.patient_id, OLD.starts_at);
        PERFORM documents_aftercare_reissue(NEW.patient_id, NEW.starts_at);
    ELSE
        PERFORM documents_aftercare_reissue(NEW.patient_id, LEAST(OLD.starts_at, NEW.starts_at));
    END IF;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER documents_appointment_added_or_removed
    AFTER INSERT OR DELETE ON scheduling_appointment
    FOR EACH ROW EXECUTE FUNCTION documents_appointment_changed();

-- Only changes to what the sheet prints, or to whether the appointment is going ahead.
CREATE TRIGGER documents_appointment_changed
    AFTER UPDATE ON scheduling_appointment
    FOR EACH ROW
    WHEN (
        OLD.starts_at IS DISTINCT FROM NEW.starts_at
        OR OLD.patient_id IS DISTINCT FROM NEW.patient_id
        OR OLD.clinician_id IS DISTINCT FROM NEW.clinician_id
        OR OLD.appointment_type_id IS DISTINCT FROM NEW.appointment_type_id
        OR OLD.session_id IS DISTINCT FROM NEW.session_id
        OR (OLD.status IN ('cancelled', 'no_show')) IS DISTINCT FROM (NEW.status IN ('cancelled', 'no_show'))
    )
    EXECUTE FUNCTION documents_appointment_changed();
"""

REVERSE = """
DROP TRIGGER documents_appointment_changed ON scheduling_appointment;
DROP TRIGGER documents_appointment_added_or_removed ON scheduling_appointment;
DROP FUNCTION documents_appointment_changed();
DROP FUNCTION documents_aftercare_reissue(bigint, timestamptz);
"""


class Migration(migrations.Migration):
    dependencies = [
        ("documents", "0006_one_current_version"),
        ("scheduling", "0005_diary_changes"),
        ("treatments", "0003_history"),
    ]

    operations = [migrations.RunSQL(FORWARD, REVERSE)]
