"""Change history of clinical records (django-pghistory): how a model is tracked, and the snapshot
that starts each tracked row's history."""

import pghistory
from django.db import migrations

# A manual event: the state of every row that already existed when tracking began, so the first
# recorded change of an old row still shows what it was before. Never shown on its own.
BASELINE = "baseline"
# The events a person or process caused, as the history page lists them.
WRITE_LABELS = ("insert", "update", "delete")


def track_changes(**options):
    """Record every insert, update and delete of the model in an event table beside it.

    Database triggers do the recording, so queryset.update(), bulk_create, cascades and raw SQL are
    recorded as well as save() and delete(). The event table is append-only (a trigger refuses
    UPDATE and DELETE on it) and keeps no foreign-key constraints: deleting a record leaves its
    history in place, and history rows never block or cascade a delete.
    """
    # Fresh tracker instances per model: pghistory fills in per-model details on them.
    trackers = (
        pghistory.InsertEvent(),
        pghistory.UpdateEvent(),
        pghistory.DeleteEvent(),
        pghistory.ManualEvent(BASELINE),
    )
    return pghistory.track(*trackers, append_only=True, **options)


def record_baseline(*event_models: str) -> migrations.RunPython:
    """A migration step that snapshots every existing row of the tracked models as a baseline event.

    Pass event model labels ("patients.PatientEvent"). One INSERT ... SELECT per table, so it is
    quick on a large database; columns come from the migration's own model state.
    """

    def snapshot(apps, schema_editor) -> None:
        quote = schema_editor.connection.ops.quote_name
        for label in event_models:
            event_model = apps.get_model(label)
            tracked_model = event_model._meta.get_field("pgh_obj").related_model
            columns = [f.column for f in event_model._meta.local_fields if not f.name.startswith("pgh_")]
            column_list = ", ".join(quote(column) for column in columns)
            # Only quoted identifiers from the model state are formatted in; the label is a parameter.
            statement = (
                f"INSERT INTO {quote(event_model._meta.db_table)}"  # noqa: S608
                f" ({column_list}, pgh_obj_id, pgh_label, pgh_created_at)"
                f" SELECT {column_list}, {quote(tracked_model._meta.pk.column)}, %s, NOW()"
                f" FROM {quote(tracked_model._meta.db_table)}"
            )
            schema_editor.execute(statement, [BASELINE])

    return migrations.RunPython(snapshot, migrations.RunPython.noop, elidable=True)
