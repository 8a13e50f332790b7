"""Claimed jobs: background work whose row is the work owed, built by one run at a time and sent again by a sweeper.
The registry export (outcomes.registry) and the patient's record copy (portal.record_copy) are built this way.

- The row is the work owed. A service writes it PENDING, with `enqueued_at`, in the request's transaction, and the
  task is sent after the commit with the row's id, nothing else.
- The claim. A run locks the row and takes it: the working status, `claimed_at` (its fence) and one attempt more.
  A run holds the row while both are still its own (`held`); every write of its progress or result goes through
  that, so a run whose claim was given away writes nothing. A message sent twice finds the row held by a run not
  yet stale and does nothing; after `max_attempts` claims the row is failed for a person to look at.
- Letting go. A run that failed puts the row back PENDING and unclaimed, for Celery's retry or the sweeper; once
  the task's retries are spent on an error that will not clear, the task marks it FAILED (`mark_failed`).
- The sweeper (beat) sends again a row pending longer than the stale threshold (a lost message) or held past it (a
  killed worker), putting it back to PENDING first. The threshold is longer than the task's hard time limit, so a
  run still working is never doubled.

The rows' model has `status`, `claimed_at`, `enqueued_at`, `requested_at`, `attempts` and `error` fields. CSV
imports and FHIR bulk exports claim their rows their own way (a claim without a status of its own; runs resumed
chunk by chunk) and share only the sending and the task's policy (`send`, TRANSIENT_ERRORS, TASK_OPTIONS,
`task_failed`)."""

import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any, TypeVar

from celery.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded
from django.db import InterfaceError, OperationalError, transaction
from django.db.models import Model, Q, QuerySet
from django.utils import timezone

logger = logging.getLogger(__name__)

M = TypeVar("M", bound=Model)

ERROR_MAX = 300
# Failures that may clear by themselves: the store or the network (OSError, which a store that did not answer,
# documents.storage.StorageUnavailable, is), the database restarting, a slow machine hitting the soft limit. The
# run has let go of the row; Celery tries again, and once its retries are spent the sweeper does.
TRANSIENT_ERRORS = (OSError, OperationalError, InterfaceError, SoftTimeLimitExceeded)
# A build task's options beside its time limits: acknowledged once done (a killed worker's message comes back),
# and retried with capped exponential backoff and jitter.
TASK_OPTIONS: dict[str, Any] = {
    "acks_late": True,
    "reject_on_worker_lost": True,
    "retry_backoff": 30,
    "retry_backoff_max": 300,
    "retry_jitter": True,
    "max_retries": 3,
}


def task_failed(
    exc: BaseException,
    pk: int,
    mark_failed: Callable[[int, str], None],
    message: str,
    transient: tuple[type[BaseException], ...] = TRANSIENT_ERRORS,
) -> None:
    """A build task's on_failure, called once: after the last retry, or at once for an error that will fail the same
    way every time. An error that may clear (`transient`) or the hard time limit leaves the row to the sweeper
    (pending again, or claimed until stale); any other marks it failed with `message`, its `{}` the exception's
    type only, as its message may quote patient data."""
    if not isinstance(exc, (*transient, TimeLimitExceeded)):
        mark_failed(pk, message.format(type(exc).__name__))


@dataclass(frozen=True)
class Job:
    """One kind of claimed job: what the log calls it, and the statuses and limits of its rows."""

    name: str  # "registry export", in the log lines
    plural: str  # "registry exports"
    live: Collection[str]  # pending or being worked on
    pending: str
    working: str
    failed: str
    stale_after: Callable[[], timedelta]
    max_attempts: int = 5


def send(task, pk: int, name: str) -> None:
    """Send the task for the row `pk` (`name` in the log); when the broker is down the row stays pending and the
    sweeper sends it later."""
    try:
        task.delay(pk)
    except Exception:
        logger.exception("could not send %s %s; the sweeper will retry", name, pk)


def claimable(job: Job, rows: QuerySet[M], pk: int) -> M | None:
    """The row, locked (call in a transaction), if this run may take it. None when there is nothing to do: it is
    finished, gone, or held by a run not yet stale; or failed now, after `max_attempts` claims."""
    row: Any = rows.select_for_update().filter(pk=pk).first()
    if row is None or row.status not in job.live:
        return None
    if row.status == job.working and row.claimed_at and row.claimed_at > timezone.now() - job.stale_after():
        logger.info("%s %s is being built by another run; nothing to do", job.name, pk)
        return None
    if row.attempts >= job.max_attempts:
        fail(job, row, f"Gave up after {job.max_attempts} attempts: the worker stopped or ran out of time each time.")
        return None
    return row


def mark_claimed(job: Job, row: Any, also: Collection[str] = ()) -> datetime:
    """Take the locked row for this run (the working status, `claimed_at`, one attempt more, no error), saving the
    fields in `also` with it; returns the claim's time, its fence."""
    now = timezone.now()
    row.status, row.claimed_at, row.attempts, row.error = job.working, now, row.attempts + 1, ""
    row.save(update_fields=["status", "claimed_at", "attempts", "error", *also])
    return now


def held(job: Job, rows: QuerySet[M], pk: int, claimed_at: datetime) -> QuerySet[M]:
    """The row if this run still holds it: a write through this finds nothing once the claim is given away."""
    return rows.filter(pk=pk, status=job.working, claimed_at=claimed_at)


def let_go(job: Job, held_row: QuerySet[Any], pk: int, error: BaseException) -> None:
    """A run that failed hands the row back (PENDING, unclaimed) for a retry or the sweeper; if even that fails (the
    database is gone), the sweeper finds the claim once it is stale."""
    try:
        held_row.update(
            status=job.pending, claimed_at=None, enqueued_at=timezone.now(),
            error=f"Stopped ({type(error).__name__}); it will be tried again.",
        )  # fmt: skip
    except Exception:
        logger.exception("%s %s: could not let go of it; the sweeper will", job.name, pk)


def fail(job: Job, row: Any, error: str) -> None:
    """Fail the locked row at once, with its reason."""
    row.status, row.claimed_at, row.error = job.failed, None, error[:ERROR_MAX]
    row.save(update_fields=["status", "claimed_at", "error"])
    logger.error("%s %s failed: %s", job.name, row.pk, error)


def mark_failed(job: Job, rows: QuerySet[Any], pk: int, error: str) -> None:
    """Terminal, once the task has given up. Only a row nobody holds (a failing run lets go of it first) is failed;
    `error` must carry no patient data."""
    if rows.filter(pk=pk, status=job.pending, claimed_at__isnull=True).update(
        status=job.failed, error=error[:ERROR_MAX]
    ):
        logger.error("%s %s failed: %s", job.name, pk, error)


@transaction.atomic
def resend_stale(
    job: Job, rows: QuerySet[Any], *, now: datetime, older_than: timedelta, send: Callable[[int], None]
) -> list[int]:
    """The sweeper: put back to PENDING, and send again after the commit, the rows pending and sent longer ago than
    `older_than` (a lost message) or held past it (a killed worker: the old run, were it alive, finds its claim
    gone). Rows another sweeper has locked are skipped; at most 100 a sweep, oldest first. Returns their ids."""
    cutoff = now - older_than
    stale = (
        rows.select_for_update(skip_locked=True)
        .filter(
            Q(status=job.pending) & (Q(enqueued_at__lte=cutoff) | Q(enqueued_at__isnull=True))
            | Q(status=job.working, claimed_at__lte=cutoff)
        )
        .order_by("requested_at")
    )
    ids = list(stale.values_list("pk", flat=True)[:100])
    rows.filter(pk__in=ids).update(status=job.pending, claimed_at=None, enqueued_at=now)
    for pk in ids:
        transaction.on_commit(partial(send, pk))
    if ids:
        logger.warning("sweeper sent again %d %s nobody was working on: %s", len(ids), job.plural, ids)
    return ids
