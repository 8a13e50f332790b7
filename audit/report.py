"""What the managers' audit report shows of each event, on the page and in its CSV export."""

import json
from dataclasses import dataclass

from django.apps import apps
from django.db.models import QuerySet

from audit.exports import local_time
from audit.models import AuditEvent, Source

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


def _model_name(label: str) -> str:
    try:
        return str(apps.get_model(label)._meta.verbose_name)
    except (LookupError, ValueError):
        return label


def record_label(event: AuditEvent) -> str:
    if not event.object_type:
        return ""
    return f"{_model_name(event.object_type)} {event.object_id}".strip()


def who(event: AuditEvent) -> str:
    if event.actor_username:
        return event.actor_username
    return "system" if event.source != Source.WEB else "anonymous"


def detail_text(event: AuditEvent) -> str:
    return "; ".join(f"{key}: {value}" for key, value in sorted(event.detail.items()))


@dataclass(frozen=True)
class ReportRow:
    event: AuditEvent
    who: str
    record: str
    detail: str

    @classmethod
    def of(cls, event: AuditEvent) -> "ReportRow":
        return cls(event, who(event), record_label(event), detail_text(event))


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
