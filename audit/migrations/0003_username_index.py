"""The report's user filter (actor_username, case-insensitive) stays an index scan on a trail of millions."""

import django.db.models.functions.text
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_append_only_hash_chain")]

    operations = [
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(
                django.db.models.functions.text.Upper("actor_username"),
                models.F("occurred_at"),
                name="audit_username_time",
            ),
        ),
    ]
