"""Every change to what the calendars show leaves a row in scheduling_diarychange, written by the database
itself, so a calendar drawn earlier is known to be out of date however the change was made
(scheduling.views.drawn)."""

from django.db import migrations, models

FORWARD = """
-- An appointment's change, under the days (UTC) it started and ended on, before and after.
CREATE FUNCTION scheduling_note_appointment_change() RETURNS trigger AS $$
BEGIN
    INSERT INTO scheduling_diarychange (day)
    SELECT DISTINCT (moment AT TIME ZONE 'UTC')::date
    FROM unnest(CASE TG_OP
        WHEN 'INSERT' THEN ARRAY[NEW.starts_at, NEW.ends_at]
        WHEN 'DELETE' THEN ARRAY[OLD.starts_at, OLD.ends_at]
        ELSE ARRAY[OLD.starts_at, OLD.ends_at, NEW.starts_at, NEW.ends_at]
    END) AS moment;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER scheduling_appointment_diary_change
    AFTER INSERT OR UPDATE OR DELETE ON scheduling_appointment
    FOR EACH ROW EXECUTE FUNCTION scheduling_note_appointment_change();

-- A change that can show on any day: filed under none.
CREATE FUNCTION scheduling_note_change_on_every_day() RETURNS trigger AS $$
BEGIN
    INSERT INTO scheduling_diarychange (day) VALUES (NULL);
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER scheduling_appointmenttype_diary_change
    AFTER INSERT OR UPDATE OR DELETE ON scheduling_appointmenttype
    FOR EACH STATEMENT EXECUTE FUNCTION scheduling_note_change_on_every_day();

CREATE TRIGGER scheduling_workinghours_diary_change
    AFTER INSERT OR UPDATE OR DELETE ON scheduling_workinghours
    FOR EACH STATEMENT EXECUTE FUNCTION scheduling_note_change_on_every_day();

CREATE TRIGGER scheduling_timeoff_diary_change
    AFTER INSERT OR UPDATE OR DELETE ON scheduling_timeoff
    FOR EACH STATEMENT EXECUTE FUNCTION scheduling_note_change_on_every_day();

-- The calendars show a patient by these two names (Patient.display_name).
CREATE TRIGGER patients_patient_name_diary_change
    AFTER UPDATE OF given_name, family_name ON patients_patient
    FOR EACH ROW
    WHEN (OLD.given_name IS DISTINCT FROM NEW.given_name OR OLD.family_name IS DISTINCT FROM NEW.family_name)
    EXECUTE FUNCTION scheduling_note_change_on_every_day();
"""

REVERSE = """
DROP TRIGGER patients_patient_name_diary_change ON patients_patient;
DROP TRIGGER scheduling_timeoff_diary_change ON scheduling_timeoff;
DROP TRIGGER scheduling_workinghours_diary_change ON scheduling_workinghours;
DROP TRIGGER scheduling_appointmenttype_diary_change ON scheduling_appointmenttype;
DROP TRIGGER scheduling_appointment_diary_change ON scheduling_appointment;
DROP FUNCTION scheduling_note_change_on_every_day();
DROP FUNCTION scheduling_note_appointment_change();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("patients", "0001_initial"),
        ("scheduling", "0004_appointment_length_bounded"),
    ]

    operations = [
        migrations.CreateModel(
            name="DiaryChange",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("day", models.DateField(blank=True, null=True)),
            ],
            options={
                "indexes": [models.Index(fields=["day", "id"], name="diarychange_day")],
            },
        ),
        migrations.RunSQL(FORWARD, REVERSE),
    ]
