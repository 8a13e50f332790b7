"""Writing to and checking the audit trail."""

from dataclasses import dataclass

from django.db import connection, models, transaction
from django.http import HttpRequest

from audit.models import GENESIS_HASH, Action, AuditEvent, Source

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
    return AuditEvent.objects.create(
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


def record_page_view(request: HttpRequest, action: Action, *, patient, obj: models.Model | None = None) -> None:
    """A page showing one patient's record was opened: once per full page, not for the htmx fragments
    it loads or polls, nor for a form sent back with errors (the GET that opened it was counted)."""
    if request.method != "GET" or request.headers.get("HX-Request"):
        return
    record(action, request=request, patient=patient, obj=obj)


@dataclass(frozen=True)
class ChainCheck:
    rows: int
    first_broken_id: int | None = None
    problem: str = ""

    @property
    def intact(self) -> bool:
        return self.first_broken_id is None


CHECK_SQL = """
SELECT id, prev_hash, hash, audit_event_digest(e), lag(hash) OVER (ORDER BY id)
FROM audit_auditevent e
ORDER BY id
"""


def _rows(cursor):
    while batch := cursor.fetchmany(VERIFY_BATCH):
        yield from batch


def first_break(rows) -> ChainCheck:
    """Check rows of CHECK_SQL in order; the restore command walks a restored database with this too."""
    count = 0
    for event_id, prev_hash, stored_hash, expected_hash, previous_hash in rows:
        count += 1
        if prev_hash != (previous_hash or GENESIS_HASH):
            return ChainCheck(count, event_id, "its link to the previous row is broken (a row was removed?)")
        if stored_hash != expected_hash:
            return ChainCheck(count, event_id, "its contents do not match its hash (the row was altered)")
    return ChainCheck(count)


def verify_chain() -> ChainCheck:
    """Walk the trail in id order and report the first row whose hash is not what its fields give,
    or whose prev_hash is not the hash of the row before it (a row removed or reordered).

    The rows are streamed through a server-side cursor (which PostgreSQL keeps only inside a
    transaction) a batch at a time, so a trail of millions of rows is never held in memory."""
    with transaction.atomic(), connection.chunked_cursor() as cursor:
        cursor.execute(CHECK_SQL)
        return first_break(_rows(cursor))
