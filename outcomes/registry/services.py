"""Registry exports as background work: asked for in a request's transaction, built once by the worker, sent again
by the sweeper when a worker died or a message was lost.

1. `export_request` writes the PENDING row, and its audit event, in the request's transaction; the task is sent
   after the commit with the row's id, nothing else.
2. The task claims the row (RUNNING, `claimed_at`, the courses of the period counted and shuffled), writes the rows
   into a zip in a temporary file (outcomes.registry.dataset), moving `rows_done` after every batch, then stores
   the zip under registry/ in the document storage (documents.storage.write_atomically: all or nothing) and marks
   the row READY in the transaction that holds its lock. A file is never marked ready half-written.
3. A run is fenced by its claim: once the sweeper has given the export to another run, the old one's progress
   finds no row to move and it stops, storing nothing.
4. The sweeper (beat) sends again an export pending longer than the stale threshold (a lost message) or held past
   it (a killed worker); the threshold is longer than the task's hard time limit, so a run still working is never
   doubled. MAX_ATTEMPTS stops an export that kills its worker every time."""

import hashlib
import logging
import secrets
import tempfile
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import partial

from django.conf import settings
from django.core.files.base import File
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone

from accounts.models import User
from audit.models import Action
from audit.services import record
from documents.storage import file_digest, store_errors, write_atomically
from outcomes.models import LIVE_EXPORT, ExportStatus, RegistryExport
from outcomes.registry import dataset
from treatments.models import TreatmentCourse

logger = logging.getLogger(__name__)

# Runs of one export (claims) before it is failed for a person to look at: each ended by a dead worker or the time
# limit, or a failure that may clear (the store, the database) outlasting the task's retries.
MAX_ATTEMPTS = 5
ERROR_MAX = 300


class ExportInProgress(Exception):
    """The manager already has an export waiting or being prepared: one at a time each."""


class ClaimLost(Exception):
    """This run no longer holds the export (the sweeper gave it to another run): it stops and stores nothing."""


def stale_after() -> timedelta:
    """How long a run may hold an export, or a message wait for a worker, before the sweeper sends it again."""
    return timedelta(seconds=settings.REGISTRY_EXPORT_STALE_AFTER_SECONDS)


def period_courses(started_from: date | None, started_to: date | None) -> QuerySet[TreatmentCourse]:
    """The courses an export of this period has a row for: those started within it (either end may be open)."""
    courses = TreatmentCourse.objects.all()
    if started_from is not None:
        courses = courses.filter(started_on__gte=started_from)
    if started_to is not None:
        courses = courses.filter(started_on__lte=started_to)
    return courses


def period_detail(export: RegistryExport) -> dict[str, str | None]:
    """The period as the audit trail keeps it."""
    return {
        "from": export.started_from.isoformat() if export.started_from else None,
        "to": export.started_to.isoformat() if export.started_to else None,
    }


def _send(export_id: int) -> None:
    from outcomes import tasks  # the task module imports this one

    try:
        tasks.build_registry_export.delay(export_id)
    except Exception:
        # The broker is down: the row stays pending and the sweeper sends it again later.
        logger.exception("could not send registry export %s; the sweeper will retry", export_id)


def export_request(
    *, by: User, started_from: date | None, started_to: date | None, request: HttpRequest | None = None
) -> RegistryExport:
    """Owe an export of the courses started in the period, in the caller's transaction, and have the worker build
    it once that commits. Audited (EXPORT, no patient: the data is de-identified) with the period and the number
    of courses in it now. Raises ExportInProgress when the manager's previous export is not finished."""
    with transaction.atomic():
        try:
            with transaction.atomic():
                export = RegistryExport.objects.create(
                    requested_by=by, started_from=started_from, started_to=started_to, enqueued_at=timezone.now()
                )
        except IntegrityError as error:
            if "registry_export_one_live_each" in str(error):
                raise ExportInProgress from error
            raise
        courses = period_courses(started_from, started_to).count()
        detail = {"export": "registry", "stage": "requested", "period": period_detail(export), "courses": courses}
        record(Action.EXPORT, request=request, actor=by, obj=export, detail=detail)
        transaction.on_commit(partial(_send, export.pk))
    return export


@dataclass(frozen=True)
class Claim:
    """What a run holds: the export as claimed, when (its fence), and the courses to write, in random order."""

    export: RegistryExport
    claimed_at: datetime
    course_ids: list[int]


@transaction.atomic
def _claim(export_id: int) -> Claim | None:
    """Take the export for this run: count the attempt, list its courses, mark it RUNNING. None when there is
    nothing to do: it is finished, gone, or held by a run not yet stale (a message sent twice builds it once)."""
    export = RegistryExport.objects.select_for_update().filter(pk=export_id).first()
    if export is None or export.status not in LIVE_EXPORT:
        return None
    now = timezone.now()
    if export.status == ExportStatus.RUNNING and export.claimed_at and export.claimed_at > now - stale_after():
        logger.info("registry export %s is being built by another run; nothing to do", export_id)
        return None
    if export.attempts >= MAX_ATTEMPTS:
        _fail(export, f"Gave up after {MAX_ATTEMPTS} attempts: the worker stopped or ran out of time each time.")
        return None
    course_ids = list(period_courses(export.started_from, export.started_to).values_list("pk", flat=True))
    # Random order: neither the rows' order nor their ids say which course is which.
    secrets.SystemRandom().shuffle(course_ids)
    export.status, export.claimed_at, export.attempts = ExportStatus.RUNNING, now, export.attempts + 1
    export.rows_done, export.rows_total, export.error = 0, len(course_ids), ""
    export.save(update_fields=["status", "claimed_at", "attempts", "rows_done", "rows_total", "error"])
    return Claim(export, now, course_ids)


def _held(claim: Claim) -> QuerySet[RegistryExport]:
    return RegistryExport.objects.filter(pk=claim.export.pk, status=ExportStatus.RUNNING, claimed_at=claim.claimed_at)


def _progress(claim: Claim, done: int) -> None:
    """Show how far this run has got; raises ClaimLost if the export is no longer this run's."""
    if not _held(claim).update(rows_done=done):
        raise ClaimLost


def storage_name(export: RegistryExport) -> str:
    # Beside the documents, under a prefix of its own; the export's id only.
    return f"registry/registry-export-{export.pk}.zip"


def _store(claim: Claim, spool, rows: int) -> None:
    """Store the finished zip and mark the export READY, in the transaction that holds its lock; raises ClaimLost
    (nothing stored) if the export is no longer this run's."""
    sha256, size = file_digest(spool)
    with transaction.atomic():
        export = _held(claim).select_for_update().first()
        if export is None:
            raise ClaimLost
        export.file_name = write_atomically(default_storage, storage_name(export), File(spool))
        export.sha256, export.size_bytes = sha256, size
        export.status, export.claimed_at, export.error = ExportStatus.READY, None, ""
        export.rows_done = export.rows_total or 0
        export.ready_at = timezone.now()
        fields = ["file_name", "sha256", "size_bytes", "status", "claimed_at", "error", "rows_done", "ready_at"]
        export.save(update_fields=fields)
    logger.info("registry export %s ready: %d rows, %d bytes", export.pk, rows, size)


def export_build(export_id: int) -> bool:
    """Build and store one export; True if this call made it READY. Safe to run any number of times, and beside a
    run that died. A failure lets go of the export (the caller, the task, decides whether it is tried again) and
    is raised again."""
    claim = _claim(export_id)
    if claim is None:
        return False
    export = claim.export
    about = dataset.About(export.started_from, export.started_to, timezone.localdate())
    try:
        with tempfile.TemporaryFile() as spool:  # no name on disk: a killed run leaves nothing behind
            rows = dataset.rows(claim.course_ids, on_batch=partial(_progress, claim))
            written = dataset.write_package(spool, rows, about)
            _store(claim, spool, written)
    except ClaimLost:
        logger.warning("registry export %s was taken over by another run; this one stored nothing", export_id)
        return False
    except BaseException as error:
        _let_go(claim, error)
        raise
    return True


def _let_go(claim: Claim, error: BaseException) -> None:
    """A run that failed hands the export back (PENDING, unclaimed) for a retry or the sweeper; if even that fails
    (the database is gone), the sweeper finds the claim once it is stale."""
    try:
        _held(claim).update(
            status=ExportStatus.PENDING, claimed_at=None, enqueued_at=timezone.now(),
            error=f"Stopped ({type(error).__name__}); it will be tried again.",
        )  # fmt: skip
    except Exception:
        logger.exception("registry export %s: could not let go of it; the sweeper will", claim.export.pk)


def _fail(export: RegistryExport, error: str) -> None:
    export.status, export.claimed_at, export.error = ExportStatus.FAILED, None, error[:ERROR_MAX]
    export.save(update_fields=["status", "claimed_at", "error"])
    logger.error("registry export %s failed: %s", export.pk, error)


def export_mark_failed(export_id: int, error: str) -> None:
    """Terminal: the manager sees why and may ask for a new export. `error` must carry no patient data. Only an
    export nobody holds (a failing run lets go of it first) is failed."""
    updated = RegistryExport.objects.filter(pk=export_id, status=ExportStatus.PENDING, claimed_at__isnull=True)
    if updated.update(status=ExportStatus.FAILED, error=error[:ERROR_MAX]):
        logger.error("registry export %s failed: %s", export_id, error)


def export_file_lost(export: RegistryExport) -> None:
    """A ready export whose stored file is missing or altered: failed, so nobody is offered it again."""
    RegistryExport.objects.filter(pk=export.pk, status=ExportStatus.READY).update(
        status=ExportStatus.FAILED, error="Its stored file is missing or altered. Ask for a new export."
    )
    logger.error("registry export %s: stored file missing or altered", export.pk)


@transaction.atomic
def exports_sweep(*, older_than: timedelta | None = None) -> list[int]:
    """Send again the exports nobody is working on: pending and sent longer ago than the stale threshold (a lost
    message), or held by a run past it (a killed worker: it is put back to PENDING, so the old run, were it alive,
    would find its claim gone). Returns their ids."""
    cutoff = timezone.now() - (stale_after() if older_than is None else older_than)
    stale = (
        RegistryExport.objects.select_for_update(skip_locked=True)
        .filter(
            Q(status=ExportStatus.PENDING) & (Q(enqueued_at__lte=cutoff) | Q(enqueued_at__isnull=True))
            | Q(status=ExportStatus.RUNNING, claimed_at__lte=cutoff)
        )
        .order_by("requested_at")
    )
    ids = list(stale.values_list("pk", flat=True)[:100])
    RegistryExport.objects.filter(pk__in=ids).update(
        status=ExportStatus.PENDING, claimed_at=None, enqueued_at=timezone.now()
    )
    for export_id in ids:
        transaction.on_commit(partial(_send, export_id))
    if ids:
        logger.warning("sweeper sent again %d registry exports nobody was working on: %s", len(ids), ids)
    return ids


def read_verified(export: RegistryExport) -> bytes | None:
    """The stored zip if it still matches the SHA-256 taken when it was stored; None if not, or if it is missing.
    Raises documents.storage.StorageUnavailable when the store could not be read."""
    try:
        with store_errors(), default_storage.open(export.file_name, "rb") as stored:
            content = stored.read()
    except FileNotFoundError:
        return None
    return content if hashlib.sha256(content).hexdigest() == export.sha256 else None


def record_download(request: HttpRequest, export: RegistryExport) -> None:
    detail = {"export": "registry", "stage": "downloaded", "period": period_detail(export), "rows": export.rows_total,
              "sha256": export.sha256}  # fmt: skip
    record(Action.EXPORT, request=request, obj=export, detail=detail)
