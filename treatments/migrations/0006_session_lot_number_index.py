"""Lot recall: who was injected from a product lot.

The lot is looked up case-insensitively, exactly or by its first characters (treatments.lots), through one index
on upper(lot_number). Its operator class is text_pattern_ops, which serves both the equality and LIKE 'ABC%'
whatever the database's collation (the default operator class serves a prefix LIKE only under the C collation).
The new permission, treatments.recall_lot, is given to roles by accounts.roles after migrate."""

import django.contrib.postgres.indexes
import django.db.models.functions.text
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("treatments", "0005_course_closure_outcome")]

    operations = [
        migrations.AlterModelOptions(
            name="injectionsession",
            options={
                "ordering": ["course", "number"],
                "permissions": [
                    ("sign_injectionsession", "Can sign injection session notes"),
                    ("recall_lot", "Can list the patients injected from a product lot"),
                ],
            },
        ),
        migrations.AddIndex(
            model_name="injectionsession",
            index=models.Index(
                django.contrib.postgres.indexes.OpClass(
                    django.db.models.functions.text.Upper("lot_number"), name="text_pattern_ops"
                ),
                name="session_lot_number",
            ),
        ),
    ]
