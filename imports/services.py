"""CSV imports from upload to report.

1. `import_upload` keeps the file (its bytes, SHA-256, encoding and header) once it reads as a table: MAPPING.
2. `import_map` saves which column fills which field and owes the check: CHECKING, sent after commit.
3. The worker checks every row (imports.checks) and keeps each row's problems: CHECKED, the preview.
4. `import_confirm` owes the import: IMPORTING, sent after commit.
5. The worker checks the rows again against the data as it is now and makes the patients (in bulk) or books the
   appointments (through the booking service), the report's rows and the audit event, in ONE transaction that
   begins by locking the import: all or nothing, and never two runs at once. DONE.

A run holds the import by its claim (`claimed_at`); a failure lets go of it for Celery's retry; the sweeper sends
again an import left pending (a lost message) or held past the stale threshold (a killed worker: its transaction
died with it, so nothing of it was kept). Progress goes to Django's cache, as the import's rows are not visible
to anyone before its transaction commits."""

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

import pghistory
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone

from accounts.models import User
from audit.models import Action, Source
from audit.services import record
from imports import checks, reading
from imports.models import (
    LIVE_IMPORT,
    CsvImport,
    ImportedAppointment,
    ImportedPatient,
    ImportKind,
    ImportRow,
    ImportStatus,
)
from imports.presets import detect_source
from patients.models import Intake, Patient
from patients.services import next_clinic_numbers
from pit_portal import jobs
from scheduling.services import appointment_book

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
ERROR_MAX = 300
ROW_BATCH = 1000


class ClaimLost(Exception):
    """This run no longer holds the import (the sweeper gave it to another run): it stops, keeping nothing."""


class NotReady(Exception):
    """The import is not in the status the step needs (a second click, or a page left open)."""


def stale_after() -> timedelta:
    return timedelta(seconds=settings.IMPORTS_STALE_AFTER_SECONDS)


# --- Upload, mapping, confirmation (requests) --------------------------------------------------------------------


def import_upload(
    *, by: User, kind: str, source_system: str, file_name: str, content: bytes, encoding: str, request=None
) -> CsvImport:
    """Keep an uploaded file that reads as a table (raises reading.UnreadableFile with the reason otherwise); an
    empty `source_system` is told from the header. Audited with its SHA-256 and row count, never its content."""
    table = reading.read_upload(content, encoding)
    source_system = source_system or detect_source(table.header)
    csv_import = CsvImport.objects.create(
        kind=kind, source_system=source_system, uploaded_by=by, file_name=file_name[:200], content=content,
        sha256=hashlib.sha256(content).hexdigest(), encoding=encoding, delimiter=table.delimiter,
        header=table.header, row_count=len(table.rows),
    )  # fmt: skip
    record(Action.IMPORT, request=request, actor=by, obj=csv_import, detail=_detail(csv_import, "uploaded"))
    return csv_import


def _detail(csv_import: CsvImport, stage: str, **counts) -> dict:
    return {"import": csv_import.kind, "stage": stage, "source": csv_import.source_system,
            "rows": csv_import.row_count, "sha256": csv_import.sha256, **counts}  # fmt: skip


def earlier_imports_of_file(csv_import: CsvImport) -> QuerySet[CsvImport]:
    """Imports of the same file (same SHA-256) already done: importing it again makes nothing new."""
    done = CsvImport.objects.filter(sha256=csv_import.sha256, kind=csv_import.kind, status=ImportStatus.DONE)
    return done.exclude(pk=csv_import.pk)


def _send(import_id: int) -> None:
    from imports import tasks  # the task module imports this one

    jobs.send(tasks.run_import, import_id, "import")


def _owe(csv_import: CsvImport, status: str, fields: list[str]) -> None:
    # Each stage has its own attempts: a check that needed two leaves the import all of its own.
    csv_import.status, csv_import.enqueued_at, csv_import.error, csv_import.attempts = status, timezone.now(), "", 0
    csv_import.save(update_fields=[*fields, "status", "enqueued_at", "error", "attempts"])
    transaction.on_commit(partial(_send, csv_import.pk))


@transaction.atomic
def import_map(*, csv_import: CsvImport, mapping: dict[str, str], date_order: str, default_appointment_type=None):
    """Save the columns chosen and have the worker check every row. Allowed again after a check (a different
    choice of columns), never while a run is owed or once imported."""
    csv_import = CsvImport.objects.select_for_update().get(pk=csv_import.pk)
    if csv_import.status not in (ImportStatus.MAPPING, ImportStatus.CHECKED, ImportStatus.FAILED):
        raise NotReady
    csv_import.mapping, csv_import.date_order = mapping, date_order
    csv_import.default_appointment_type = default_appointment_type
    csv_import.to_create = csv_import.to_skip = None
    _owe(csv_import, ImportStatus.CHECKING, ["mapping", "date_order", "default_appointment_type", "to_create",
                                              "to_skip"])  # fmt: skip
    return csv_import


@transaction.atomic
def import_confirm(*, csv_import: CsvImport, by: User, request: HttpRequest | None = None) -> CsvImport:
    """Have the worker import the checked file. Audited."""
    csv_import = CsvImport.objects.select_for_update().get(pk=csv_import.pk)
    if csv_import.status != ImportStatus.CHECKED:
        raise NotReady
    _owe(csv_import, ImportStatus.IMPORTING, [])
    record(Action.IMPORT, request=request, actor=by, obj=csv_import, detail=_detail(csv_import, "confirmed"))
    return csv_import


# --- Progress ----------------------------------------------------------------------------------------------------


def _progress_key(import_id: int) -> str:
    return f"imports:progress:{import_id}"


def progress_of(csv_import: CsvImport) -> int:
    """Rows the current run has got through (the cache; 0 when it has not said)."""
    if not csv_import.is_live or csv_import.claimed_at is None:
        return 0
    done, claimed = cache.get(_progress_key(csv_import.pk), (0, None))
    return done if claimed == csv_import.claimed_at.isoformat() else 0


def _tell(claim: "Claim", done: int) -> None:
    cache.set(_progress_key(claim.import_id), (done, claim.claimed_at.isoformat()), timeout=3600)


# --- The worker's run --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    import_id: int
    status: str
    claimed_at: datetime


@transaction.atomic
def _claim(import_id: int) -> Claim | None:
    """Take the import for this run; None when there is nothing to do (finished, or held by a run not yet
    stale: a message sent twice runs once)."""
    csv_import = CsvImport.objects.select_for_update().filter(pk=import_id).only("status", "claimed_at", "attempts")
    found = csv_import.first()
    if found is None or found.status not in LIVE_IMPORT:
        return None
    now = timezone.now()
    if found.claimed_at and found.claimed_at > now - stale_after():
        return None
    if found.attempts >= MAX_ATTEMPTS:
        _fail(import_id, f"Gave up after {MAX_ATTEMPTS} attempts: the worker stopped or ran out of time each time.")
        return None
    CsvImport.objects.filter(pk=import_id).update(claimed_at=now, attempts=found.attempts + 1)
    return Claim(import_id, found.status, now)


def _held(claim: Claim) -> QuerySet[CsvImport]:
    return CsvImport.objects.filter(pk=claim.import_id, status=claim.status, claimed_at=claim.claimed_at)


def import_run(import_id: int) -> bool:
    """Do the work the import is owed (its check, or the import); True if this call did it. Safe to run any number
    of times, and beside a run that died; a failure lets go of the import and is raised again."""
    claim = _claim(import_id)
    if claim is None:
        return False
    try:
        if claim.status == ImportStatus.CHECKING:
            _check(claim)
        else:
            _import(claim)
    except ClaimLost:
        logger.warning("import %s was taken over by another run; this one kept nothing", import_id)
        return False
    except BaseException as error:
        _let_go(claim, error)
        raise
    return True


def _table(csv_import: CsvImport) -> reading.Table:
    text = reading.decode(bytes(csv_import.content), csv_import.encoding)
    return reading.read_table(text, delimiter=csv_import.delimiter)


def _report_rows(csv_import: CsvImport, rows: list[checks.Checked]) -> list[ImportRow]:
    """The rows as the preview or the report shows them; what a row made only once it is saved."""
    made_patients = csv_import.kind == ImportKind.PATIENTS
    return [
        ImportRow(
            csv_import=csv_import, number=row.number, label=row.label, problems=row.problems,
            patient=row.patient if row.ok and made_patients and row.patient and row.patient.pk else None,
            appointment=row.appointment if row.ok and row.appointment and row.appointment.pk else None,
        )
        for row in rows
    ]  # fmt: skip


def _check(claim: Claim) -> None:
    csv_import = CsvImport.objects.select_related("default_appointment_type").get(pk=claim.import_id)
    rows = checks.check(csv_import, _table(csv_import), partial(_tell, claim))
    with transaction.atomic():
        if _held(claim).select_for_update().first() is None:
            raise ClaimLost
        ImportRow.objects.filter(csv_import=csv_import).delete()
        ImportRow.objects.bulk_create(_report_rows(csv_import, rows), batch_size=ROW_BATCH)
        skip = checks.problems_in(rows)
        _held(claim).update(status=ImportStatus.CHECKED, claimed_at=None, to_create=len(rows) - skip, to_skip=skip)


def _import(claim: Claim) -> None:
    with transaction.atomic(), pghistory.context(csv_import=claim.import_id):
        # Locked for the whole import: the sweeper skips it while this run lives, and a dead run's lock goes with
        # its transaction, which kept nothing.
        held = _held(claim).select_for_update(of=("self",))
        csv_import = held.select_related("uploaded_by", "default_appointment_type").first()
        if csv_import is None:
            raise ClaimLost
        rows = checks.check(csv_import, _table(csv_import), partial(_tell, claim))
        if csv_import.kind == ImportKind.PATIENTS:
            _make_patients(csv_import, rows)
        else:
            _book_appointments(csv_import, rows, claim)
        _finish(csv_import, rows)


def _make_patients(csv_import: CsvImport, rows: list[checks.Checked]) -> None:
    """Register the rows' patients as registration does (a clinic number each, an intake each, made by the
    uploader), in bulk: the database's triggers (change history, the names searched) fire for each row alike."""
    by = csv_import.uploaded_by
    ok = [row for row in rows if row.ok and row.patient is not None]
    for row, number in zip(ok, next_clinic_numbers(len(ok)), strict=True):
        assert row.patient is not None
        row.patient.clinic_number, row.patient.created_by = number, by
    Patient.objects.bulk_create([row.patient for row in ok if row.patient], batch_size=ROW_BATCH)
    Intake.objects.bulk_create(
        [Intake(patient=row.patient, notes=row.notes, updated_by=by) for row in ok], batch_size=ROW_BATCH
    )
    ImportedPatient.objects.bulk_create(
        [ImportedPatient(source_system=csv_import.source_system, external_id=row.external_id, patient=row.patient,
                         csv_import=csv_import) for row in ok if row.external_id],
        batch_size=ROW_BATCH,
    )  # fmt: skip


def _book_appointments(csv_import: CsvImport, rows: list[checks.Checked], claim: Claim) -> None:
    """Book each row through the booking service (its checks, and the database's no-double-booking constraint):
    a refusal found only now (someone booked the time since the check) skips that row, with the service's words."""
    imported = []
    for position, row in enumerate(rows):
        if not row.ok or row.appointment is None:
            continue
        planned = row.appointment
        try:
            row.appointment = appointment_book(
                patient=planned.patient, clinician=planned.clinician, appointment_type=planned.appointment_type,
                starts_at=planned.starts_at, by=csv_import.uploaded_by, notes=planned.notes,
            )  # fmt: skip
        except ValidationError as refused:
            row.problems += refused.messages
            row.appointment = None
            continue
        imported.append(ImportedAppointment(source_system=csv_import.source_system, external_id=row.external_id,
                                            appointment=row.appointment, csv_import=csv_import))  # fmt: skip
        if (position + 1) % checks.PROGRESS_EVERY == 0:
            _tell(claim, position + 1)
    ImportedAppointment.objects.bulk_create(imported, batch_size=ROW_BATCH)


def _finish(csv_import: CsvImport, rows: list[checks.Checked]) -> None:
    ImportRow.objects.filter(csv_import=csv_import).delete()
    ImportRow.objects.bulk_create(_report_rows(csv_import, rows), batch_size=ROW_BATCH)
    skipped = checks.problems_in(rows)
    created = len(rows) - skipped
    csv_import.status, csv_import.claimed_at, csv_import.finished_at = ImportStatus.DONE, None, timezone.now()
    csv_import.created_count, csv_import.skipped_count = created, skipped
    # The file held every row's personal data; once imported, the rows made and the report say what it was, and
    # the ids imported keep a second import of it from making anything again. Its SHA-256 stays.
    csv_import.content = b""
    csv_import.save(update_fields=["status", "claimed_at", "finished_at", "created_count", "skipped_count", "content"])
    detail = _detail(csv_import, "imported", created=created, skipped=skipped)
    record(Action.IMPORT, actor=csv_import.uploaded_by, obj=csv_import, detail=detail, source=Source.TASK)
    logger.info("import %s done: %d created, %d skipped", csv_import.pk, created, skipped)


def _let_go(claim: Claim, error: BaseException) -> None:
    try:
        _held(claim).update(claimed_at=None, enqueued_at=timezone.now())
    except Exception:
        logger.exception("import %s: could not let go of it; the sweeper will", claim.import_id)


def _fail(import_id: int, error: str) -> None:
    CsvImport.objects.filter(pk=import_id).update(status=ImportStatus.FAILED, claimed_at=None, error=error[:ERROR_MAX])
    logger.error("import %s failed: %s", import_id, error)


def import_mark_failed(import_id: int, error: str) -> None:
    """Terminal: staff see why; nothing of the run was kept. `error` carries no patient data."""
    live = CsvImport.objects.filter(pk=import_id, status__in=LIVE_IMPORT, claimed_at__isnull=True)
    if live.update(status=ImportStatus.FAILED, error=error[:ERROR_MAX]):
        logger.error("import %s failed: %s", import_id, error)


@transaction.atomic
def imports_sweep(*, older_than: timedelta | None = None) -> list[int]:
    """Send again the imports nobody is working on: owed and sent longer ago than the stale threshold, or claimed
    past it by a run that died. A run alive holds its import's lock (the import stage) and is skipped."""
    cutoff = timezone.now() - (stale_after() if older_than is None else older_than)
    stale = CsvImport.objects.select_for_update(skip_locked=True).filter(
        Q(status__in=LIVE_IMPORT)
        & (Q(claimed_at__isnull=True, enqueued_at__lte=cutoff) | Q(claimed_at__isnull=True, enqueued_at__isnull=True)
           | Q(claimed_at__lte=cutoff))
    )  # fmt: skip
    ids = list(stale.values_list("pk", flat=True)[:100])
    CsvImport.objects.filter(pk__in=ids).update(claimed_at=None, enqueued_at=timezone.now())
    for import_id in ids:
        transaction.on_commit(partial(_send, import_id))
    if ids:
        logger.warning("sweeper sent again %d imports nobody was working on: %s", len(ids), ids)
    return ids


def record_report_download(request: HttpRequest, csv_import: CsvImport) -> None:
    record(Action.EXPORT, request=request, obj=csv_import, detail=_detail(csv_import, "report downloaded"))
