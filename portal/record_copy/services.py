"""Patients' copies of their record as background work: asked for in the portal's transaction, built once by the
worker, sent again by the sweeper when a worker died or a message was lost, deleted once expired.

1. `copy_request` writes the PENDING row in the request's transaction (one open copy per patient, and a new one
   no sooner than PORTAL_RECORD_COPY_EVERY_HOURS after the last); the task is sent after the commit with the row's
   id, nothing else.
2. The task claims the row (BUILDING, `claimed_at`), writes the zip into a temporary file (portal.record_copy.
   package), then stores it under record-copies/ in the document storage (documents.storage.write_atomically: all
   or nothing) and marks the row READY, with its expiry, in the transaction that holds its lock and owes the
   "your copy is ready" email (pit_portal.outbox). A zip is never marked ready half-written, and the email is owed
   if and only if the copy is ready.
3. A run is fenced by its claim: once the sweeper has given the copy to another run, the old one finds no row to
   store into and stops.
4. The sweeper (beat) sends again a copy pending longer than the stale threshold (a lost message) or held past it
   (a killed worker), marks ready copies past their expiry EXPIRED and deletes their files.

The claim, letting go, failing and the sweeper are pit_portal.jobs's, shared with the registry export."""

import hashlib
import logging
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.core.files.base import File
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import F, QuerySet
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from audit.models import Action
from audit.services import record
from documents.notifications import can_read_in_portal
from documents.storage import StorageUnavailable, store_errors, write_atomically
from patients.models import Patient
from pit_portal import jobs
from pit_portal.outbox.models import EmailKind
from pit_portal.outbox.services import email_owe, send_templated_mail
from portal.models import OPEN_COPY, CopyStatus, RecordCopy
from portal.record_copy import package

logger = logging.getLogger(__name__)

# Runs of one copy (claims) before it is failed for a person to look at: each ended by a dead worker or the time
# limit, or a failure that may clear (the store, the database) outlasting the task's retries.
MAX_ATTEMPTS = 5
READ_CHUNK = 1024 * 1024
# Deleted per sweep: the rest wait for the next minute.
EXPIRE_BATCH = 100
FILE_LOST = "Its stored file is missing or altered. Ask for a new copy."


class TooSoon(Exception):
    """The patient had a copy made less than PORTAL_RECORD_COPY_EVERY_HOURS ago."""

    def __init__(self, last: RecordCopy, next_at: datetime) -> None:
        super().__init__("A copy was asked for recently.")
        self.last, self.next_at = last, next_at


class ClaimLost(Exception):
    """This run no longer holds the copy (the sweeper gave it to another run): it stops and stores nothing."""


def stale_after() -> timedelta:
    """How long a run may hold a copy, or a message wait for a worker, before the sweeper sends it again."""
    return timedelta(seconds=settings.RECORD_COPY_STALE_AFTER_SECONDS)


JOB = jobs.Job(
    name="record copy", plural="record copies", live=OPEN_COPY, pending=CopyStatus.PENDING,
    working=CopyStatus.BUILDING, failed=CopyStatus.FAILED, stale_after=stale_after, max_attempts=MAX_ATTEMPTS,
)  # fmt: skip


def keep_for() -> timedelta:
    return timedelta(days=settings.PORTAL_RECORD_COPY_DAYS)


def asked_every() -> timedelta:
    return timedelta(hours=settings.PORTAL_RECORD_COPY_EVERY_HOURS)


def recent_copies(patient: Patient) -> QuerySet[RecordCopy]:
    return RecordCopy.objects.filter(patient_id=patient.pk).order_by("-requested_at", "-pk")


def _send(copy_id: int) -> None:
    from portal import tasks  # the task module imports this one

    jobs.send(tasks.build_record_copy, copy_id, JOB.name)


@dataclass(frozen=True)
class Requested:
    """What asking gave: the copy, and whether this request made it (False: one was already being prepared)."""

    copy: RecordCopy
    created: bool


@transaction.atomic
def copy_request(*, patient: Patient, by: User) -> Requested:
    """Owe the patient a copy of their record, in the caller's transaction, and have the worker build it once that
    commits. While one is being prepared, that one is answered and nothing new is made. Raises TooSoon when the
    last copy not failed was asked for less than PORTAL_RECORD_COPY_EVERY_HOURS ago."""
    # Two clicks at once wait for each other here, so the second sees the first's copy.
    Patient.objects.select_for_update().filter(pk=patient.pk).values_list("pk").get()
    copies = recent_copies(patient)
    open_copy = copies.filter(status__in=OPEN_COPY).first()
    if open_copy is not None:
        return Requested(open_copy, created=False)
    now = timezone.now()
    last = copies.exclude(status=CopyStatus.FAILED).first()
    if last is not None and last.requested_at > now - asked_every():
        raise TooSoon(last, last.requested_at + asked_every())
    try:
        with transaction.atomic():
            copy = RecordCopy.objects.create(patient=patient, requested_by=by, requested_at=now, enqueued_at=now)
    except IntegrityError as error:  # the constraint, should a writer skip the lock above
        if "record_copy_one_open" not in str(error):
            raise
        return Requested(copies.filter(status__in=OPEN_COPY).get(), created=False)
    transaction.on_commit(partial(_send, copy.pk))
    logger.info("record copy %s asked for by user %s", copy.pk, by.pk)
    return Requested(copy, created=True)


@dataclass(frozen=True)
class Claim:
    """What a run holds: the copy as claimed, and when (its fence)."""

    copy: RecordCopy
    claimed_at: datetime


@transaction.atomic
def _claim(copy_id: int) -> Claim | None:
    """Take the copy for this run: count the attempt, mark it BUILDING. None when there is nothing to do: it is
    finished, gone, or held by a run not yet stale (a message sent twice builds it once)."""
    copy = jobs.claimable(JOB, RecordCopy.objects.select_related("patient"), copy_id)
    if copy is None:
        return None
    return Claim(copy, jobs.mark_claimed(JOB, copy))


def _held(claim: Claim) -> QuerySet[RecordCopy]:
    return jobs.held(JOB, RecordCopy.objects.all(), claim.copy.pk, claim.claimed_at)


def storage_name(copy: RecordCopy) -> str:
    # Beside the documents, under a prefix of its own; the copy's id only (a file listing shows no names).
    return f"record-copies/record-copy-{copy.pk}.zip"


def _store(claim: Claim, spool) -> RecordCopy:
    """Store the finished zip and mark the copy READY, owing its email, in the transaction that holds its lock;
    raises ClaimLost (nothing stored) if the copy is no longer this run's."""
    spool.seek(0)
    sha256 = hashlib.file_digest(spool, "sha256").hexdigest()
    size = spool.tell()
    spool.seek(0)
    with transaction.atomic():
        copy = _held(claim).select_for_update().first()
        if copy is None:
            raise ClaimLost
        copy.file_name = write_atomically(default_storage, storage_name(copy), File(spool))
        copy.sha256, copy.size_bytes = sha256, size
        copy.status, copy.claimed_at, copy.error = CopyStatus.READY, None, ""
        copy.ready_at = timezone.now()
        copy.expires_at = copy.ready_at + keep_for()
        copy.save(update_fields=["file_name", "sha256", "size_bytes", "status", "claimed_at", "error", "ready_at",
                                 "expires_at"])  # fmt: skip
        email_owe(kind=EmailKind.RECORD_COPY_READY, object_id=copy.pk)
    logger.info("record copy %s ready: %d bytes", copy.pk, size)
    return copy


def copy_build(copy_id: int) -> bool:
    """Build and store one copy; True if this call made it READY. Safe to run any number of times, and beside a run
    that died. A failure lets go of the copy (the task decides whether it is tried again) and is raised again."""
    claim = _claim(copy_id)
    if claim is None:
        return False
    try:
        with tempfile.TemporaryFile() as spool:  # no name on disk: a killed run leaves nothing behind
            package.write_package(spool, claim.copy.patient)
            _store(claim, spool)
    except ClaimLost:
        logger.warning("record copy %s was taken over by another run; this one stored nothing", copy_id)
        return False
    except BaseException as error:
        jobs.let_go(JOB, _held(claim), copy_id, error)
        raise
    return True


def copy_mark_failed(copy_id: int, error: str) -> None:
    """Terminal: the patient sees that it could not be prepared and may ask again. `error` must carry no patient
    data. Only a copy nobody holds (a failing run lets go of it first) is failed."""
    jobs.mark_failed(JOB, RecordCopy.objects.all(), copy_id, error)


def copy_file_lost(copy: RecordCopy) -> None:
    """A ready copy whose stored file is missing or altered: failed, so it is offered no more and the patient may
    ask for a new one at once."""
    RecordCopy.objects.filter(pk=copy.pk, status=CopyStatus.READY).update(status=CopyStatus.FAILED, error=FILE_LOST)
    logger.error("record copy %s: stored file missing or altered", copy.pk)


def _delete_expired_files(now: datetime) -> list[int]:
    """Mark copies past their expiry EXPIRED, then delete the files of expired copies (the name is cleared once the
    file is gone; a store that does not answer is tried again next sweep)."""
    RecordCopy.objects.filter(status=CopyStatus.READY, expires_at__lte=now).update(status=CopyStatus.EXPIRED)
    deleted = []
    for copy in RecordCopy.objects.filter(status=CopyStatus.EXPIRED).exclude(file_name="")[:EXPIRE_BATCH]:
        try:
            with store_errors():
                default_storage.delete(copy.file_name)
        except FileNotFoundError:
            pass
        except StorageUnavailable as error:
            logger.warning("record copy %s: expired file not deleted yet: %s", copy.pk, error)
            break
        RecordCopy.objects.filter(pk=copy.pk).update(file_name="")
        deleted.append(copy.pk)
    if deleted:
        logger.info("deleted the files of %d expired record copies: %s", len(deleted), deleted)
    return deleted


def copies_sweep(*, older_than: timedelta | None = None) -> dict[str, list[int]]:
    """Send again the copies nobody is working on: pending and sent longer ago than the stale threshold (a lost
    message), or held by a run past it (a killed worker: put back to PENDING, so the old run, were it alive, finds
    its claim gone); then expire and delete. Returns the ids sent again and deleted."""
    now = timezone.now()
    older_than = stale_after() if older_than is None else older_than
    sent = jobs.resend_stale(JOB, RecordCopy.objects.all(), now=now, older_than=older_than, send=_send)
    return {"sent": sent, "deleted": _delete_expired_files(now)}


def open_verified(copy: RecordCopy):
    """The stored zip in a temporary file (at its start) if it still matches the SHA-256 taken when it was stored;
    None if not, or if it is missing. Read in chunks, never whole into memory. Raises
    documents.storage.StorageUnavailable when the store could not be read."""
    # Not a `with`: the open file is handed to the response, which closes it once sent.
    spool = tempfile.TemporaryFile()  # noqa: SIM115
    digest = hashlib.sha256()
    try:
        with store_errors(), default_storage.open(copy.file_name, "rb") as stored:
            while chunk := stored.read(READ_CHUNK):
                digest.update(chunk)
                spool.write(chunk)
    except FileNotFoundError:
        spool.close()
        return None
    except BaseException:
        spool.close()
        raise
    if digest.hexdigest() != copy.sha256:
        spool.close()
        return None
    spool.seek(0)
    return spool


def record_download(request, copy: RecordCopy) -> None:
    """Count the download and put it in the audit trail, where the patient's accounting of disclosures reads it."""
    RecordCopy.objects.filter(pk=copy.pk).update(downloaded_at=timezone.now(), download_count=F("download_count") + 1)
    detail = {"export": "record_copy", "via": "portal", "size_bytes": copy.size_bytes, "sha256": copy.sha256}
    record(Action.EXPORT, request=request, patient=copy.patient_id, obj=copy, detail=detail)


def ready_email_send(copy_id: int) -> bool:
    """Tell the patient their copy is ready (pit_portal.outbox sends it once). A link to the portal and the date it
    expires, nothing clinical. False, and nothing sent, when it no longer applies: the copy is gone, expired or
    failed, or the patient has no email or no working portal sign-in."""
    copy = RecordCopy.objects.select_related("patient__user").filter(pk=copy_id).first()
    if copy is None or not copy.is_downloadable():
        return False
    patient = copy.patient
    if not (patient.email and can_read_in_portal(patient)):
        return False
    context = {
        "link": settings.SITE_URL + reverse("portal:record_copy"),
        "expires_at": timezone.localtime(copy.expires_at),
        "clinic": {"name": settings.CLINIC_NAME, "phone": settings.CLINIC_PHONE},
    }
    send_templated_mail("portal/email/record_copy_ready", context, patient.email)
    logger.info("told the patient of record copy %s that it is ready", copy_id)
    return True
