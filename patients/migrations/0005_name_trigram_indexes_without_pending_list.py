"""The name trigram indexes without GIN's pending list (fastupdate off).

With fastupdate on, new names wait in an unsorted pending list that every search reads in full until the
next vacuum; after a bulk load (seed_scale, an import) that was every patient, and searches were as slow as
without an index. The indexes are switched in place and their pending lists merged, not rebuilt.
"""

from django.contrib.postgres.indexes import GinIndex
from django.db import migrations

INDEXES = {
    "patient_family_trgm": "family_name",
    "patient_given_trgm": "given_name",
    "patient_preferred_trgm": "preferred_name",
}


def _switch(name: str, field: str) -> migrations.SeparateDatabaseAndState:
    return migrations.SeparateDatabaseAndState(
        database_operations=[
            migrations.RunSQL(
                sql=[
                    f"ALTER INDEX {name} SET (fastupdate = off)",
                    f"SELECT gin_clean_pending_list('{name}'::regclass)",
                ],
                reverse_sql=[f"ALTER INDEX {name} RESET (fastupdate)"],
            )
        ],
        state_operations=[
            migrations.RemoveIndex(model_name="patient", name=name),
            migrations.AddIndex(
                model_name="patient",
                index=GinIndex(fields=[field], name=name, opclasses=["gin_trgm_ops"], fastupdate=False),
            ),
        ],
    )


class Migration(migrations.Migration):
    dependencies = [
        ("patients", "0004_history"),
    ]

    operations = [_switch(name, field) for name, field in INDEXES.items()]
