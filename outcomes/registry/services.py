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
   doubled. MAX_ATTEMPTS stops an export that kills its worker every time.

The claim, letting go, failing and the sweeper are pit_portal.jobs's, shared with the record copy."""

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
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from accounts.models import User
from audit.models import Action
from audit.services import record
from documents.storage import file_digest, store_errors, write_atomically
from outcomes.models import LIVE_EXPORT, ExportStatus, RegistryExport
from outcomes.registry import dataset
from pit_portal import jobs
from treatments.models import TreatmentCourse

logger = logging.getLogger(__name__)

# Runs of one export (claims) before it is failed for a person to look at: each ended by a dead worker or the time
# limit, or a failure that may clear (the store, the database) outlasting the task's retries.
MAX_ATTEMPTS = 5


class ExportInProgress(Exception):
    """The manager already has an export waiting or being prepared: one at a time each."""


class ClaimLost(Exception):
    """This run no longer holds the export (the sweeper gave it to another run): it stops and stores nothing."""


def stale_after() -> timedelta:
    """How long a run may hold an export, or a message wait for a worker, before the sweeper sends it again."""
    return timedelta(seconds=settings.REGISTRY_EXPORT_STALE_AFTER_SECONDS)


JOB = jobs.Job(
    name="registry export", plural="registry exports", live=LIVE_EXPORT, pending=ExportStatus.PENDING,
    working=ExportStatus.RUNNING, failed=ExportStatus.FAILED, stale_after=stale_after, max_attempts=MAX_ATTEMPTS,
)  # fmt: skip


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

    jobs.send(tasks.build_registry_export, export_id, JOB.name)


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
    export = jobs.claimable(JOB, RegistryExport.objects.all(), export_id)
    if export is None:
        return None
    course_ids = list(period_courses(export.started_from, export.started_to).values_list("pk", flat=True))
    # Random order: neither the rows' order nor their ids say which course is which.
    secrets.SystemRandom().shuffle(course_ids)
    export.rows_done, export.rows_total = 0, len(course_ids)
    claimed_at = jobs.mark_claimed(JOB, export, also=["rows_done", "rows_total"])
    return Claim(export, claimed_at, course_ids)


def _held(claim: Claim) -> QuerySet[RegistryExport]:
    return jobs.held(JOB, RegistryExport.objects.all(), claim.export.pk, claim.claimed_at)


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
        jobs.let_go(JOB, _held(claim), export_id, error)
        raise
    return True


def export_mark_failed(export_id: int, error: str) -> None:
    """Terminal: the manager sees why and may ask for a new export. `error` must carry no patient data. Only an
    export nobody holds (a failing run lets go of it first) is failed."""
    jobs.mark_failed(JOB, RegistryExport.objects.all(), export_id, error)


def export_file_lost(export: RegistryExport) -> None:
    """A ready export whose stored file is missing or altered: failed, so nobody is offered it again."""
    RegistryExport.objects.filter(pk=export.pk, status=ExportStatus.READY).update(
        status=ExportStatus.FAILED, error="Its stored file is missing or altered. Ask for a new export."
    )
    logger.error("registry export %s: stored file missing or altered", export.pk)


def exports_sweep(*, older_than: timedelta | None = None) -> list[int]:
    """Send again the exports nobody is working on: pending and sent longer ago than the stale threshold (a lost
    message), or held by a run past it (a killed worker: it is put back to PENDING, so the old run, were it alive,
    would find its claim gone). Returns their ids."""
    older_than = stale_after() if older_than is None else older_than
    return jobs.resend_stale(JOB, RegistryExport.objects.all(), now=timezone.now(), older_than=older_than, send=_send)


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
