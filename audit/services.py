"""Writing to and checking the audit trail."""

import json
from collections.abc import Iterable

from django.db import connection, models, transaction
from django.http import HttpRequest
from django.utils import timezone

from audit.chain import CHECK_SQL, ChainCheck, Head, chain_key, event_mac, first_break
from audit.models import Action, AuditEvent, Source

__all__ = ["CHECK_SQL", "ChainCheck", "append", "first_break", "record", "record_page_view", "verify_chain"]

# Rows fetched per round trip while the chain is checked: the trail is streamed, never loaded whole.
VERIFY_BATCH = 5000


def client_ip(request: HttpRequest) -> str | None:
    """The client's address as django-axes sees it, so lockouts and the audit trail agree
    (behind the proxy, the right-most X-Forwarded-For hop; see AXES_IPWARE_* in settings)."""
    from axes.helpers import get_client_ip_address

    return get_client_ip_address(request) or None


def _signed_in_user(request: HttpRequest):
    user = getattr(request, "user", None)
    return user if user is not None and user.is_authenticated else None


def record(
    action: Action,
    *,
    request: HttpRequest | None = None,
    actor=None,
    username: str = "",
    patient=None,
    obj: models.Model | None = None,
    detail: dict | None = None,
    source: Source | None = None,
) -> AuditEvent:
    """Append one event. From a view pass `request` (actor, address and path come from it);
    from a task or command pass `actor` if there is one and `source`. `patient` is a Patient or its id.

    `detail` must hold no clinical content and no names: ids, counts, reasons, filters.
    The path is stored without its query string, which may hold a name someone searched for.
    """
    if actor is None and request is not None:
        actor = _signed_in_user(request)
    return append(_event(action, request, actor, username, patient, obj, detail, source))


def _event(action, request, actor, username, patient, obj, detail, source, occurred_at=None) -> AuditEvent:
    event = AuditEvent(
        action=action,
        actor=actor,
        actor_username=(actor.get_username() if actor is not None else username)[:150],
        patient_id=getattr(patient, "pk", patient),
        object_type=obj._meta.label_lower if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        detail=detail or {},
        source=source or (Source.WEB if request is not None else Source.TASK),
        ip_address=client_ip(request) if request is not None else None,
        path=request.path[:300] if request is not None else "",
    )
    if occurred_at is not None:
        event.occurred_at = occurred_at
    return event


def record_for_patients(action: Action, *, request: HttpRequest, details: dict[int, dict]) -> list[AuditEvent]:
    """Append one event per patient, as record() would from a view, all at the same moment and in one query
    whatever their number: for a page or export that shows several patients' data at once (each patient's
    accounting of disclosures lists their own). `details` maps each patient's id to that event's detail, which
    holds no names or clinical content, as for record().

    One multi-row INSERT: the chaining trigger runs for each row in turn, and each sees the rows before it in
    the same statement, so the events are chained one after another in the order given."""
    actor = _signed_in_user(request)
    moment = timezone.now()
    events = [
        _event(action, request, actor, "", patient_id, None, detail, None, occurred_at=moment)
        for patient_id, detail in details.items()
    ]
    key = chain_key()
    for event in events:
        event.mac = event_mac(_keyed_fields(event), key)
    return AuditEvent.objects.bulk_create(events)


def _keyed_fields(event: AuditEvent) -> list:
    return [
        event.occurred_at, event.actor_id, event.actor_username, event.action, event.patient_id, event.object_type,
        event.object_id, json.dumps(event.detail), event.source, event.ip_address, event.path,
    ]  # fmt: skip


def append(event: AuditEvent) -> AuditEvent:
    """Insert an unsaved event with its keyed MAC, in one query; the database's trigger gives it its id and
    chains it onto the newest event. Use record(); this is for an event built by hand."""
    event.mac = event_mac(_keyed_fields(event), chain_key())
    event.save(force_insert=True)
    return event


def record_page_view(request: HttpRequest, action: Action, *, patient, obj: models.Model | None = None) -> None:
    """A page showing one patient's record was opened: once per full page, not for the htmx fragments
    it loads or polls, nor for a form sent back with errors (the GET that opened it was counted)."""
    if request.method != "GET" or request.headers.get("HX-Request"):
        return
    record(action, request=request, patient=patient, obj=obj)


def _rows(cursor):
    while batch := cursor.fetchmany(VERIFY_BATCH):
        yield from batch


def verify_chain(heads: Iterable[Head] = ()) -> ChainCheck:
    """Walk the trail in id order and report the first row whose link to the row before is broken (a row removed),
    whose hash is not that of its fields, or whose keyed MAC is not (altered, or written without the key); then
    check each head recorded outside the database (`heads`) against the row it names, and what they show is
    missing from the trail's end.

    The rows are streamed through a server-side cursor (which PostgreSQL keeps only inside a
    transaction) a batch at a time, so a trail of millions of rows is never held in memory."""
    with transaction.atomic(), connection.chunked_cursor() as cursor:
        cursor.execute(CHECK_SQL)
        return first_break(_rows(cursor), heads=heads)
