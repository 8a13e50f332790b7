"""No appointment is longer than MAX_APPOINTMENT_MINUTES (8 hours): the longest appointment type, and what
scheduling.models.overlapping() relies on to read a day's appointments by an index range on starts_at."""

import datetime

import django.db.models.expressions
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("scheduling", "0003_history"),
    ]

    operations = [
        migrations.AddConstraint(
            model_name="appointment",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    (
                        "ends_at__lte",
                        django.db.models.expressions.CombinedExpression(
                            models.F("starts_at"), "+", models.Value(datetime.timedelta(seconds=28800))
                        ),
                    )
                ),
                name="appointment_length_bounded",
            ),
        ),
    ]
