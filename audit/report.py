"""The managers' audit report: the events it reads, and its CSV export (the page reads AuditEvent's properties)."""

import json

from django.db.models import QuerySet

from audit.exports import local_time
from audit.models import AuditEvent

EVENTS_PER_PAGE = 50

CSV_HEADER = [
    "id",
    "occurred_at",
    "username",
    "action",
    "action_label",
    "patient_clinic_number",
    "object_type",
    "object_id",
    "source",
    "ip_address",
    "path",
    "detail",
    "hash",
]


def report_events() -> QuerySet[AuditEvent]:
    # The patient's clinic number is on every row: one join, whatever the page size.
    return AuditEvent.objects.select_related("patient")


def csv_rows(events: QuerySet[AuditEvent]):
    for event in events.iterator():
        yield [
            event.pk,
            local_time(event.occurred_at),
            event.actor_username,
            event.action,
            event.get_action_display(),
            event.patient.clinic_number if event.patient else "",
            event.object_type,
            event.object_id,
            event.source,
            event.ip_address or "",
            event.path,
            json.dumps(event.detail, sort_keys=True),
            event.hash,
        ]
