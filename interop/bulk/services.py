"""FHIR bulk exports as background work: asked for in a request's transaction, built by the worker chunk by chunk,
resumed after the last completed chunk when a run stops, and marked ready only once every file is whole.

1. `export_request` writes the PENDING row, and its audit event, in the request's transaction; the task is sent
   after the commit with the row's id, nothing else.
2. A run claims the row (RUNNING, a new `run` number, `claimed_at`). The first run fixes what is exported: the
   patients on file then (ids up to `until_patient_id`), at `transaction_time`.
3. Chunk by chunk, in patient id order: the chunk's resources are written into one local temporary file per type,
   each stored as a part (parts/, named with the run and chunk, so no two runs ever write the same name), and then,
   in one transaction still held by this run, the parts' rows are written and the export moved past the chunk
   (`last_patient_id`, progress, counts, `claimed_at`). A part stored without its row is a leftover: never read,
   deleted when the export is finished.
4. A run hands the export on after SLICE seconds (PENDING again, sent anew after the commit), so no task runs long
   and a long export survives any one worker. The next run RESUMES after the last completed chunk.
5. With every patient written, each type's parts are joined into `<Type>.ndjson` (read back part by part and
   checked against their SHA-256; the whole hashed as it is stored), and only then, in the transaction that holds
   the row, the files' rows are written and the export marked READY. A part found missing or altered RESTARTS the
   export cleanly from its first patient. A file is never marked ready half-written: READY and its files' rows
   commit together, after every file is stored whole.
6. The sweeper (beat) sends again an export pending longer than the stale threshold (a lost message) or whose claim
   has not moved for it (a killed worker: it is put back to PENDING and resumed). MAX_ATTEMPTS stops an export
   that fails or kills its worker every time."""

import logging
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import timedelta
from enum import Enum
from functools import partial
from typing import IO, cast

from django.conf import settings
from django.core.files.base import File
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import F, Max, Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone

from accounts.models import User
from audit.models import Action
from audit.services import record
from documents.storage import store_errors, stored_digest, write_atomically
from interop.bulk.ndjson import JoinedParts, PartDamaged, StoredPart, TypeFile, write_by_type
from interop.models import BulkExport, BulkExportFile, BulkExportPart
from outcomes.models import LIVE_EXPORT, ExportStatus
from patients.models import Patient
from pit_portal import jobs

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
ERROR_MAX = 300
# Resources a patient's record repeats from the clinic's (interop.resources gives each record the staff it names and
# the questionnaires it answers, so a bundle stands alone): in a bulk export each is written once, the first time.
# Their ids are few (the staff, three questionnaires), so the ids written are kept on the export's row.
SHARED_TYPES = ("Practitioner", "Questionnaire")


class ExportInProgress(Exception):
    """An export is already waiting or being prepared: one clinic-wide export at a time."""


class ClaimLost(Exception):
    """This run no longer holds the export (the sweeper gave it to another run): it stops and records nothing."""


class Outcome(Enum):
    READY = "ready"  # this run finished it
    HANDED_ON = "handed on"  # this run's time was up: the next run resumes it
    NOTHING = "nothing"  # finished, gone, or held by another run


def stale_after() -> timedelta:
    """How long a claim may stand still, or a message wait for a worker, before the sweeper sends the export again."""
    return timedelta(seconds=settings.FHIR_BULK_STALE_AFTER_SECONDS)


def folder(export_id: int) -> str:
    # Beside the documents, under a prefix of its own; the export's id only.
    return f"fhir-bulk/{export_id}"


def chunk_resources(patient_ids: list[int]) -> Iterator[dict]:
    """Every resource of these patients, patient by patient (interop.resources), read in a fixed number of queries
    for the chunk (interop.records)."""
    from interop.records import load_records
    from interop.resources import patient_resources

    for patient_record in load_records(patient_ids):
        yield from patient_resources(patient_record)


# --- Asking for one --------------------------------------------------------------------------------------------


def _send(export_id: int) -> None:
    from interop import tasks  # the task module imports this one

    jobs.send(tasks.build_bulk_export, export_id, "FHIR bulk export")


def export_request(*, by: User, request: HttpRequest | None = None) -> BulkExport:
    """Owe a clinic-wide export in the caller's transaction, and have the worker build it once that commits.
    Audited (EXPORT, no one patient: every patient's record) with the number of patients on file now. Raises
    ExportInProgress when another export is not finished."""
    with transaction.atomic():
        try:
            with transaction.atomic():
                export = BulkExport.objects.create(requested_by=by, enqueued_at=timezone.now())
        except IntegrityError as error:
            if "bulk_export_one_live" in str(error):
                raise ExportInProgress from error
            raise
        detail = {"export": "fhir-bulk", "stage": "requested", "patients": Patient.objects.count()}
        record(Action.EXPORT, request=request, actor=by, obj=export, detail=detail)
        transaction.on_commit(partial(_send, export.pk))
    return export


# --- One run ---------------------------------------------------------------------------------------------------


@transaction.atomic
def _claim(export_id: int) -> BulkExport | None:
    """Take the export for a new run. None when there is nothing to do: it is finished, gone, or held by a run
    whose claim is still moving (a message sent twice builds it once)."""
    export = BulkExport.objects.select_for_update().filter(pk=export_id).first()
    if export is None or export.status not in LIVE_EXPORT:
        return None
    now = timezone.now()
    if export.status == ExportStatus.RUNNING:
        if export.claimed_at and export.claimed_at > now - stale_after():
            logger.info("FHIR bulk export %s is being built by another run; nothing to do", export_id)
            return None
        export.attempts += 1  # its last run died without the sweeper noticing yet
    if export.attempts >= MAX_ATTEMPTS:
        _fail(export, f"Gave up after {MAX_ATTEMPTS} attempts: the worker failed or stopped each time.")
        return None
    if export.transaction_time is None:
        export.transaction_time = now
        export.until_patient_id = Patient.objects.aggregate(last=Max("pk"))["last"] or 0
        export.patients_total = Patient.objects.filter(pk__lte=export.until_patient_id).count()
    export.status, export.claimed_at, export.run, export.error = ExportStatus.RUNNING, now, export.run + 1, ""
    fields = ["status", "claimed_at", "run", "attempts", "error", "transaction_time", "until_patient_id"]
    export.save(update_fields=[*fields, "patients_total"])
    return export


def _held(export: BulkExport) -> QuerySet[BulkExport]:
    return BulkExport.objects.filter(pk=export.pk, status=ExportStatus.RUNNING, run=export.run)


def _lock_held(export: BulkExport) -> BulkExport:
    """The export's row, locked, if this run still holds it; raises ClaimLost if not."""
    held = _held(export).select_for_update().first()
    if held is None:
        raise ClaimLost
    return held


def export_build(export_id: int, *, slice_seconds: float | None = None) -> Outcome:
    """Build one export for up to `slice_seconds` (FHIR_BULK_SLICE_SECONDS), then hand it on; READY if this call
    finished it. Safe to run any number of times, and beside a run that died. A failure lets go of the export (the
    caller, the task, decides whether it is tried again) and is raised again."""
    export = _claim(export_id)
    if export is None:
        return Outcome.NOTHING
    budget = settings.FHIR_BULK_SLICE_SECONDS if slice_seconds is None else slice_seconds
    deadline = time.monotonic() + budget
    try:
        while ids := _next_chunk(export):
            _write_chunk(export, ids)
            if time.monotonic() >= deadline:
                _hand_on(export)
                return Outcome.HANDED_ON
        try:
            _finish(export)
        except PartDamaged as damage:
            logger.error("FHIR bulk export %s: %s; it starts again from its first patient", export_id, damage)
            _restart(export)
            _hand_on(export)
            return Outcome.HANDED_ON
    except ClaimLost:
        logger.warning("FHIR bulk export %s was taken over by another run; this one stopped", export_id)
        return Outcome.NOTHING
    except BaseException as error:
        _let_go(export, error)
        raise
    return Outcome.READY


def _next_chunk(export: BulkExport) -> list[int]:
    """The next patients to write, in id order, after the last completed chunk."""
    patients = Patient.objects.filter(pk__lte=export.until_patient_id)
    if export.last_patient_id is not None:
        patients = patients.filter(pk__gt=export.last_patient_id)
    return list(patients.order_by("pk").values_list("pk", flat=True)[: settings.FHIR_BULK_CHUNK_PATIENTS])


def part_name(export: BulkExport, chunk: int, resource_type: str) -> str:
    return f"{folder(export.pk)}/parts/run{export.run}-chunk{chunk:06d}-{resource_type}.ndjson"


def _write_chunk(export: BulkExport, ids: list[int]) -> None:
    """Write and store the chunk's parts, then record them and move the export past the chunk, in one transaction
    held by this run."""
    chunk = export.chunks_done
    written = {resource_type: set(names) for resource_type, names in export.shared_written.items()}
    files = write_by_type(_once_each_shared(chunk_resources(ids), written))
    try:
        parts = [_store_part(export, chunk, type_file) for type_file in files.values()]
    finally:
        for type_file in files.values():
            type_file.close()
    with transaction.atomic():
        held = _lock_held(export)
        BulkExportPart.objects.bulk_create(parts)
        counts = dict(held.counts)
        for part in parts:
            counts[part.resource_type] = counts.get(part.resource_type, 0) + part.count
        export.last_patient_id, export.chunks_done, export.counts = ids[-1], chunk + 1, counts
        export.patients_done = min(held.patients_done + len(ids), held.patients_total or 0)
        export.shared_written = {resource_type: sorted(names) for resource_type, names in written.items()}
        export.claimed_at = timezone.now()
        fields = ["last_patient_id", "chunks_done", "counts", "patients_done", "shared_written", "claimed_at"]
        export.save(update_fields=fields)


def _once_each_shared(resources: Iterator[dict], written: dict[str, set[str]]) -> Iterator[dict]:
    """The resources, less any of SHARED_TYPES already written (their ids are added to `written`)."""
    for resource in resources:
        resource_type = resource["resourceType"]
        if resource_type in SHARED_TYPES:
            ids = written.setdefault(resource_type, set())
            if resource["id"] in ids:
                continue
            ids.add(resource["id"])
        yield resource


def _store_part(export: BulkExport, chunk: int, type_file: TypeFile) -> BulkExportPart:
    name = write_atomically(default_storage, part_name(export, chunk, type_file.resource_type), File(type_file.file))
    return BulkExportPart(
        export=export, chunk=chunk, resource_type=type_file.resource_type, file_name=name,
        sha256=type_file.sha256, size_bytes=type_file.size, count=type_file.count,
    )  # fmt: skip


def _parts_by_type(export: BulkExport) -> dict[str, list[BulkExportPart]]:
    by_type: dict[str, list[BulkExportPart]] = defaultdict(list)
    for part in BulkExportPart.objects.filter(export=export).order_by("resource_type", "chunk"):
        by_type[part.resource_type].append(part)
    return by_type


def _heartbeat(export: BulkExport) -> None:
    """Show the sweeper this run is alive; raises ClaimLost if the export is no longer this run's."""
    now = timezone.now()
    if not _held(export).update(claimed_at=now):
        raise ClaimLost
    export.claimed_at = now


def _join(export: BulkExport, resource_type: str, parts: list[BulkExportPart]) -> BulkExportFile:
    """Store one type's parts, in chunk order, as its final file, hashed as it goes. The name is fixed: a run that
    joins again writes the same bytes, as the parts it reads are checked against their SHA-256."""
    stored = [StoredPart(part.file_name, part.sha256, part.size_bytes) for part in parts]
    with JoinedParts(default_storage, stored) as joined:
        name = f"{folder(export.pk)}/{resource_type}.ndjson"
        name = write_atomically(default_storage, name, File(cast(IO[bytes], joined)))
        sha256, size = joined.sha256, joined.size
    return BulkExportFile(
        export=export, resource_type=resource_type, file_name=name, sha256=sha256, size_bytes=size,
        count=sum(part.count for part in parts),
    )  # fmt: skip


def _finish(export: BulkExport) -> None:
    """Join every type's parts into its file, then mark the export READY with its files' rows in one transaction."""
    files = []
    for resource_type, parts in _parts_by_type(export).items():
        files.append(_join(export, resource_type, parts))
        _heartbeat(export)
    with transaction.atomic():
        held = _lock_held(export)
        BulkExportFile.objects.bulk_create(files)
        BulkExportPart.objects.filter(export=export).delete()
        held.status, held.claimed_at, held.error, held.finished_at = ExportStatus.READY, None, "", timezone.now()
        # Patients deleted while it ran were not written: the total is what the files hold.
        held.patients_total = held.patients_done
        held.save(update_fields=["status", "claimed_at", "error", "finished_at", "patients_total"])
    # Committed (a task runs in no outer transaction): the parts are no longer needed.
    _delete_parts(export.pk)
    logger.info("FHIR bulk export %s ready: %d patients, %d files", export.pk, held.patients_done, len(files))


def _delete_parts(export_id: int) -> None:
    """Delete the parts, joined or left by a stopped run, and any file a stopped run left half-written. Best effort:
    a leftover costs space only, and is never read."""
    try:
        with store_errors():
            for location, keep in ((f"{folder(export_id)}/parts", False), (folder(export_id), True)):
                for name in default_storage.listdir(location)[1]:
                    if not keep or name.endswith(".partial"):
                        default_storage.delete(f"{location}/{name}")
    except FileNotFoundError:
        pass
    except OSError:
        logger.exception("FHIR bulk export %s: could not delete its parts", export_id)


def _restart(export: BulkExport) -> None:
    """Start the export again from its first patient (the same patients), forgetting every part written."""
    with transaction.atomic():
        held = _lock_held(export)
        BulkExportPart.objects.filter(export=export).delete()
        held.last_patient_id, held.chunks_done, held.patients_done, held.counts = None, 0, 0, {}
        held.shared_written = {}
        held.save(update_fields=["last_patient_id", "chunks_done", "patients_done", "counts", "shared_written"])
    _delete_parts(export.pk)


def _hand_on(export: BulkExport) -> None:
    """End this run with the export unfinished: PENDING again, and sent to the next run after the commit."""
    with transaction.atomic():
        held = _lock_held(export)
        held.status, held.claimed_at, held.enqueued_at = ExportStatus.PENDING, None, timezone.now()
        held.save(update_fields=["status", "claimed_at", "enqueued_at"])
        transaction.on_commit(partial(_send, export.pk))


def _let_go(export: BulkExport, error: BaseException) -> None:
    """A run that failed hands the export back (PENDING, unclaimed, one attempt more) for a retry or the sweeper;
    if even that fails (the database is gone), the sweeper finds the claim once it stands still."""
    try:
        _held(export).update(
            status=ExportStatus.PENDING, claimed_at=None, enqueued_at=timezone.now(), attempts=export.attempts + 1,
            error=f"Stopped ({type(error).__name__}); it will be resumed.",
        )  # fmt: skip
    except Exception:
        logger.exception("FHIR bulk export %s: could not let go of it; the sweeper will", export.pk)


def _fail(export: BulkExport, error: str) -> None:
    export.status, export.claimed_at, export.error = ExportStatus.FAILED, None, error[:ERROR_MAX]
    export.finished_at = timezone.now()
    export.save(update_fields=["status", "claimed_at", "error", "finished_at"])
    logger.error("FHIR bulk export %s failed: %s", export.pk, error)


def export_mark_failed(export_id: int, error: str) -> None:
    """Terminal: the manager sees why and may ask for a new export. `error` must carry no patient data. Only an
    export nobody holds (a failing run lets go of it first) is failed."""
    updated = BulkExport.objects.filter(pk=export_id, status=ExportStatus.PENDING, claimed_at__isnull=True)
    if updated.update(status=ExportStatus.FAILED, error=error[:ERROR_MAX], finished_at=timezone.now()):
        logger.error("FHIR bulk export %s failed: %s", export_id, error)


@transaction.atomic
def exports_sweep(*, older_than: timedelta | None = None) -> list[int]:
    """Send again the exports nobody is working on: pending and sent longer ago than the stale threshold (a lost
    message), or running with a claim that has stood still that long (a killed worker: put back to PENDING with
    one attempt more, so the old run, were it alive, would find its claim gone). Returns their ids."""
    cutoff = timezone.now() - (stale_after() if older_than is None else older_than)
    stale = BulkExport.objects.select_for_update(skip_locked=True).filter(
        Q(status=ExportStatus.PENDING) & (Q(enqueued_at__lte=cutoff) | Q(enqueued_at__isnull=True))
        | Q(status=ExportStatus.RUNNING, claimed_at__lte=cutoff)
    )
    ids = list(stale.values_list("pk", flat=True)[:100])
    BulkExport.objects.filter(pk__in=ids, status=ExportStatus.RUNNING).update(attempts=F("attempts") + 1)
    BulkExport.objects.filter(pk__in=ids).update(
        status=ExportStatus.PENDING, claimed_at=None, enqueued_at=timezone.now()
    )
    for export_id in ids:
        transaction.on_commit(partial(_send, export_id))
    if ids:
        logger.warning("sweeper sent again %d FHIR bulk exports nobody was working on: %s", len(ids), ids)
    return ids


# --- Downloads -------------------------------------------------------------------------------------------------


def file_verified(export_file: BulkExportFile) -> bool:
    """Whether the stored file is still the one made: its SHA-256 and size, read in blocks. False if it is missing.
    Raises documents.storage.StorageUnavailable when the store could not be read."""
    try:
        sha256, size = stored_digest(default_storage, export_file.file_name)
    except FileNotFoundError:
        return False
    return (sha256, size) == (export_file.sha256, export_file.size_bytes)


def export_file_lost(export: BulkExport) -> None:
    """A ready export with a stored file missing or altered: failed, so nobody is offered it again."""
    BulkExport.objects.filter(pk=export.pk, status=ExportStatus.READY).update(
        status=ExportStatus.FAILED, error="A stored file is missing or altered. Ask for a new export."
    )
    logger.error("FHIR bulk export %s: stored file missing or altered", export.pk)


def record_download(request: HttpRequest, export: BulkExport, export_file: BulkExportFile) -> None:
    detail = {"export": "fhir-bulk", "stage": "downloaded", "type": export_file.resource_type,
              "resources": export_file.count, "sha256": export_file.sha256}  # fmt: skip
    record(Action.EXPORT, request=request, obj=export, detail=detail)
