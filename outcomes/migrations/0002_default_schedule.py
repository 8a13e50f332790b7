"""What the clinic asks by default: pain and PEG before each session; pain, PEG and the impression of change at
the end of a course; and all of that, with whether further treatment was needed, 3 and 6 months after it."""

from django.db import migrations

DEFAULTS = [
    {"moment": "before_session", "days_after_course": None, "ask_pgic": False, "ask_further_treatment": False},
    {"moment": "course_end", "days_after_course": None, "ask_pgic": True, "ask_further_treatment": False},
    {"moment": "after_course", "days_after_course": 91, "ask_pgic": True, "ask_further_treatment": True},
    {"moment": "after_course", "days_after_course": 182, "ask_pgic": True, "ask_further_treatment": True},
]


def load(apps, schema_editor) -> None:
    schedule = apps.get_model("outcomes", "MeasureSchedule")
    for row in DEFAULTS:
        schedule.objects.get_or_create(
            moment=row["moment"],
            days_after_course=row["days_after_course"],
            defaults={
                "ask_nrs": True,
                "ask_peg": True,
                "ask_pgic": row["ask_pgic"],
                "ask_further_treatment": row["ask_further_treatment"],
            },
        )


class Migration(migrations.Migration):
    dependencies = [("outcomes", "0001_between_visit_measures")]

    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
