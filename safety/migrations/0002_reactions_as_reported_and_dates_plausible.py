"""A delayed reaction is kept as the patient reported it, follows a signed session of the same patient, and a
follow-up is dated plausibly: rules that hold whatever writes the rows, raw SQL included.

- A delayed reaction refuses UPDATE and DELETE: the patient's words stay as given; what staff do about it is its
  follow-up (safety_adverseeventfollowup), a row of its own.
- A new delayed reaction belongs to a signed session of its own patient, and is reported no earlier than that
  session and no more than a day ahead.
- A follow-up of a session's adverse event exists only once that session is signed (a draft's events may still
  be changed or removed). Its date is no earlier than the event (the session's day, or the day a delayed reaction
  was reported); a resolved or referred event is dated no later than today, an open one's next follow-up no more
  than a year ahead (366 days, safety.forms.MAX_FOLLOW_UP_AHEAD).

The database works in UTC, the forms in the clinic's own dates, so a day's slack is allowed either way; the forms
refuse to the day.
"""

from django.db import migrations

FORWARD = """
CREATE FUNCTION safety_refuse_delayed_reaction_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'delayed reaction % is kept as the patient reported it: record what was done in its follow-up',
        OLD.id USING ERRCODE = 'restrict_violation';
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER safety_delayed_reaction_as_reported
    BEFORE UPDATE OR DELETE ON safety_delayedreaction
    FOR EACH ROW EXECUTE FUNCTION safety_refuse_delayed_reaction_change();

CREATE FUNCTION safety_refuse_implausible_delayed_reaction() RETURNS trigger AS $$
DECLARE
    session_patient bigint;
    signed timestamptz;
    performed timestamptz;
BEGIN
    SELECT course.patient_id, session.signed_at, session.performed_at INTO session_patient, signed, performed
    FROM treatments_injectionsession session
    JOIN treatments_treatmentcourse course ON course.id = session.course_id
    WHERE session.id = NEW.session_id;
    IF signed IS NULL THEN
        RAISE EXCEPTION 'a delayed reaction follows a signed session note' USING ERRCODE = 'check_violation';
    END IF;
    IF session_patient IS DISTINCT FROM NEW.patient_id THEN
        RAISE EXCEPTION 'a delayed reaction follows a session of the same patient' USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.reported_at < performed THEN
        RAISE EXCEPTION 'a delayed reaction cannot be reported before the session it follows'
            USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.reported_at > now() + interval '1 day' THEN
        RAISE EXCEPTION 'a delayed reaction cannot be reported more than a day ahead' USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER safety_delayed_reaction_plausible
    BEFORE INSERT ON safety_delayedreaction
    FOR EACH ROW EXECUTE FUNCTION safety_refuse_implausible_delayed_reaction();

CREATE FUNCTION safety_refuse_implausible_follow_up() RETURNS trigger AS $$
DECLARE
    signed timestamptz;
    earliest timestamptz;
BEGIN
    IF NEW.adverse_event_id IS NOT NULL THEN
        SELECT session.signed_at, session.performed_at INTO signed, earliest
        FROM treatments_adverseevent event
        JOIN treatments_injectionsession session ON session.id = event.session_id
        WHERE event.id = NEW.adverse_event_id;
        IF signed IS NULL THEN
            RAISE EXCEPTION 'an adverse event is followed up once its session note is signed'
                USING ERRCODE = 'check_violation';
        END IF;
    ELSE
        SELECT reported_at INTO earliest FROM safety_delayedreaction WHERE id = NEW.delayed_reaction_id;
    END IF;
    IF NEW.follow_up_on IS NULL THEN
        RETURN NEW;
    END IF;
    IF NEW.follow_up_on < earliest::date - 1 THEN
        RAISE EXCEPTION 'a follow-up cannot be dated before the adverse event' USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.status IN ('resolved', 'referred') AND NEW.follow_up_on > current_date + 1 THEN
        RAISE EXCEPTION 'a resolved or referred event cannot be dated in the future' USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.follow_up_on > current_date + 367 THEN
        RAISE EXCEPTION 'a follow-up cannot be planned more than a year ahead' USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER safety_follow_up_plausible
    BEFORE INSERT OR UPDATE OF adverse_event_id, delayed_reaction_id, status, follow_up_on
    ON safety_adverseeventfollowup
    FOR EACH ROW EXECUTE FUNCTION safety_refuse_implausible_follow_up();
"""

REVERSE = """
DROP TRIGGER safety_follow_up_plausible ON safety_adverseeventfollowup;
DROP FUNCTION safety_refuse_implausible_follow_up();
DROP TRIGGER safety_delayed_reaction_plausible ON safety_delayedreaction;
DROP FUNCTION safety_refuse_implausible_delayed_reaction();
DROP TRIGGER safety_delayed_reaction_as_reported ON safety_delayedreaction;
DROP FUNCTION safety_refuse_delayed_reaction_change();
"""


class Migration(migrations.Migration):
    dependencies = [("safety", "0001_follow_up_and_delayed_reactions")]

    operations = [migrations.RunSQL(FORWARD, REVERSE)]
