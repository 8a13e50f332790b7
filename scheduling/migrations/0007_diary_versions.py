"""The calendars' cache keys: a version per day (scheduling.models.DiaryVersion) in place of the change log of
migration 0005. The same triggers now move a day's version, or the ALL_DAYS one, rather than add a log row, and
a clinician's name, which the calendars show, moves the ALL_DAYS version too.

Reversible: going back recreates the (empty) change log and the trigger functions that wrote it."""

from django.db import migrations, models

FORWARD = """
CREATE SEQUENCE scheduling_diary_version_seq AS bigint;
-- Each database starts its versions at its own random point, so a database created afresh (a test run, a new
-- server) never meets the keys another one left in a shared cache.
SELECT setval('scheduling_diary_version_seq', 1 + floor(random() * 4e15)::bigint);
INSERT INTO scheduling_diaryversion (day, version) VALUES ('0001-01-01', nextval('scheduling_diary_version_seq'));

-- An appointment's change moves the days (UTC) it started and ended on, before and after, in date order so that
-- two transactions touching the same days take their rows' locks in the same order.
CREATE OR REPLACE FUNCTION scheduling_note_appointment_change() RETURNS trigger AS $$
BEGIN
    INSERT INTO scheduling_diaryversion AS diary (day, version)
    SELECT changed.day, nextval('scheduling_diary_version_seq')
    FROM (
        SELECT DISTINCT (moment AT TIME ZONE 'UTC')::date AS day
        FROM unnest(CASE TG_OP
            WHEN 'INSERT' THEN ARRAY[NEW.starts_at, NEW.ends_at]
            WHEN 'DELETE' THEN ARRAY[OLD.starts_at, OLD.ends_at]
            ELSE ARRAY[OLD.starts_at, OLD.ends_at, NEW.starts_at, NEW.ends_at]
        END) AS moment
        ORDER BY day
    ) AS changed
    ON CONFLICT (day) DO UPDATE SET version = EXCLUDED.version;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

-- A change that can show on any day moves the ALL_DAYS row.
CREATE OR REPLACE FUNCTION scheduling_note_change_on_every_day() RETURNS trigger AS $$
BEGIN
    INSERT INTO scheduling_diaryversion AS diary (day, version)
    VALUES ('0001-01-01', nextval('scheduling_diary_version_seq'))
    ON CONFLICT (day) DO UPDATE SET version = EXCLUDED.version;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

-- The calendars show a clinician by these names.
CREATE TRIGGER accounts_user_name_diary_change
    AFTER UPDATE OF first_name, last_name, username ON accounts_user
    FOR EACH ROW
    WHEN (OLD.first_name IS DISTINCT FROM NEW.first_name OR OLD.last_name IS DISTINCT FROM NEW.last_name
          OR OLD.username IS DISTINCT FROM NEW.username)
    EXECUTE FUNCTION scheduling_note_change_on_every_day();
"""

REVERSE = """
DROP TRIGGER accounts_user_name_diary_change ON accounts_user;

CREATE OR REPLACE FUNCTION scheduling_note_appointment_change() RETURNS trigger AS $$
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

CREATE OR REPLACE FUNCTION scheduling_note_change_on_every_day() RETURNS trigger AS $$
BEGIN
    INSERT INTO scheduling_diarychange (day) VALUES (NULL);
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

DROP SEQUENCE scheduling_diary_version_seq;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_security"),
        ("scheduling", "0006_record_dates_plausible"),
    ]

    operations = [
        migrations.CreateModel(
            name="DiaryVersion",
            fields=[
                ("day", models.DateField(primary_key=True, serialize=False)),
                ("version", models.BigIntegerField()),
            ],
        ),
        migrations.RunSQL(FORWARD, REVERSE),
        migrations.DeleteModel(name="DiaryChange"),
    ]
