"""The clinic's starting appointment types; managers change them in the admin."""

from django.db import migrations

TYPES = [
    ("new-patient-assessment", "New patient assessment", 45, "#6f42c1"),
    ("pit-session", "PIT session", 20, "#0d6efd"),
    ("review", "Review", 15, "#198754"),
]


def load(apps, schema_editor):
    AppointmentType = apps.get_model("scheduling", "AppointmentType")
    for code, name, minutes, colour in TYPES:
        AppointmentType.objects.get_or_create(
            code=code, defaults={"name": name, "duration_minutes": minutes, "colour": colour}
        )


def unload(apps, schema_editor):
    apps.get_model("scheduling", "AppointmentType").objects.filter(code__in=[t[0] for t in TYPES]).delete()


class Migration(migrations.Migration):
    dependencies = [("scheduling", "0001_initial")]

    operations = [migrations.RunPython(load, unload)]
