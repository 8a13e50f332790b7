"""Emails owed: recorded in the caller's transaction, sent once by the worker, sent again by the sweeper if the
broker lost the message. Messages carry the row's id only.

Each kind's sender takes the id of what the email is about, reads fresh rows, sends (or decides the email no
longer applies) and answers whether it sent. It runs inside the transaction that holds this row's lock and
settles it, so however many messages arrive for one row, one email goes.
"""

import logging
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.core.mail import send_mail
from django.db import connection, transaction
from django.db.models import F, Q
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.module_loading import import_string

from pit_portal.outbox.models import EmailKind, EmailStatus, OutboxEmail

logger = logging.getLogger(__name__)

SENDERS: dict[str, str] = {
    EmailKind.AFTERCARE_READY: "documents.notifications.ready_email_deliver",
    EmailKind.REMINDER: "scheduling.notifications.send_reminder",
    EmailKind.RESCHEDULED: "scheduling.notifications.send_rescheduled_notice",
    EmailKind.CANCELLED: "scheduling.notifications.send_cancelled_notice",
    EmailKind.INVITATION: "portal.services.invite_send",
    EmailKind.DESK_CANCELLATION: "portal.services.front_desk_cancellation_send",
    EmailKind.PASSWORD_RESET: "accounts.services.password_reset_send",
    EmailKind.MEASURE_REQUEST: "outcomes.services.request_send",
    EmailKind.MEASURE_REMINDER: "outcomes.services.reminder_send",
    EmailKind.CONSENT_WITHDRAWN: "portal.services.consent_withdrawal_send",
    EmailKind.RECORD_COPY_READY: "portal.record_copy.services.ready_email_send",
}
# An email still unsent this long after it was owed is news no longer (a reminder for a day gone, a link long
# expired): the sweeper settles it as not sent, which also bounds the retries of an address always refused.
WORTH_SENDING = timedelta(days=2)
ERROR_MAX = 300

INSERT_ONCE = """
INSERT INTO outbox_outboxemail (kind, object_id, dedupe_key, status, attempts, last_error, created_at, enqueued_at)
VALUES (%s, %s, %s, 'pending', 0, '', now(), now())
ON CONFLICT (dedupe_key) DO NOTHING
RETURNING id
"""


def send_templated_mail(template: str, context: dict, to: str) -> None:
    """Send `<template>_subject.txt` (its lines joined into one) and `<template>_body.txt`, both rendered with
    `context`, from DEFAULT_FROM_EMAIL to `to`: what each kind's sender does once it knows what to say."""
    subject = "".join(render_to_string(f"{template}_subject.txt", context).splitlines()).strip()
    send_mail(subject, render_to_string(f"{template}_body.txt", context), None, [to])


def resend_after() -> timedelta:
    return timedelta(seconds=settings.OUTBOX_RESEND_AFTER_SECONDS)


def email_owe(*, kind: EmailKind, object_id: int, key: str = "") -> int | None:
    """Record, in the caller's transaction, an email it owes, and have the worker send it after the commit.
    `key` tells apart emails of one kind about one object (an appointment's reminder for each start time); the
    same kind, object and key are recorded once. Returns the new row's id, None if it was owed already.
    One INSERT ... ON CONFLICT, so owing costs a page one query whether or not the email was owed before."""
    with connection.cursor() as cursor:
        cursor.execute(INSERT_ONCE, [kind, object_id, f"{kind}:{object_id}:{key}"])
        row = cursor.fetchone()
    if row is None:
        return None
    transaction.on_commit(partial(_enqueue, row[0]))
    return row[0]


def _enqueue(outbox_id: int) -> None:
    from pit_portal.outbox.tasks import send_email  # the task module imports this one

    try:
        send_email.delay(outbox_id)
    except Exception:
        # The broker is down: the row stays pending and the sweeper sends it later.
        logger.exception("could not enqueue email %s; the sweeper will retry", outbox_id)


def _settle(owed: OutboxEmail, status: EmailStatus) -> None:
    owed.status, owed.settled_at, owed.attempts = status, timezone.now(), owed.attempts + 1
    owed.save(update_fields=["status", "settled_at", "attempts"])


def email_send(outbox_id: int) -> bool:
    """Send one owed email, once; False when nothing was sent (settled already, being sent by another run, or
    no longer applying). A failure rolls back, leaving the row pending for the retry."""
    with transaction.atomic():
        owed = OutboxEmail.objects.select_for_update(skip_locked=True).filter(pk=outbox_id).first()
        if owed is None or owed.status != EmailStatus.PENDING:
            return False
        sent = bool(import_string(SENDERS[owed.kind])(owed.object_id))
        _settle(owed, EmailStatus.SENT if sent else EmailStatus.NOT_SENT)
    logger.info("email %s (%s) %s", outbox_id, owed.kind, "sent" if sent else "not sent: it no longer applies")
    return sent


def email_note_failure(outbox_id: int, error: str) -> None:
    """A failure that may clear (the mail server, the network, the database): the row stays pending with the
    reason, and the retry, or once the retries are spent the sweeper, sends it."""
    owed = OutboxEmail.objects.filter(pk=outbox_id, status=EmailStatus.PENDING)
    owed.update(attempts=F("attempts") + 1, last_error=error[:ERROR_MAX], enqueued_at=timezone.now())
    logger.warning("email %s will be tried again: %s", outbox_id, error)


def email_mark_failed(outbox_id: int, error: str) -> None:
    """A failure that will not clear by itself (a template error, say): settled as failed, for staff to see."""
    owed = OutboxEmail.objects.filter(pk=outbox_id, status=EmailStatus.PENDING)
    failed = {"status": EmailStatus.FAILED, "settled_at": timezone.now(), "last_error": error[:ERROR_MAX]}
    owed.update(attempts=F("attempts") + 1, **failed)
    logger.error("email %s failed: %s", outbox_id, error)


@transaction.atomic
def emails_sweep(*, older_than: timedelta | None = None) -> list[int]:
    """Send again the owed emails nobody is sending: not picked up a while after they were sent to the broker,
    or past the longest wait for a retry; settle those no longer news. Returns the ids sent again."""
    now = timezone.now()
    cutoff = now - (resend_after() if older_than is None else older_than)
    pending = OutboxEmail.objects.filter(status=EmailStatus.PENDING)
    stale_news = pending.filter(created_at__lt=now - WORTH_SENDING)
    stale_news.update(status=EmailStatus.NOT_SENT, settled_at=now, last_error="No longer news: not sent.")
    retry_wait = timedelta(seconds=settings.OUTBOX_RETRY_BACKOFF_MAX)
    lost = Q(last_error="", enqueued_at__lte=cutoff) | Q(enqueued_at__lte=cutoff - retry_wait)
    stale = pending.select_for_update(skip_locked=True).filter(lost).order_by("enqueued_at")
    ids = list(stale.values_list("pk", flat=True)[:500])
    OutboxEmail.objects.filter(pk__in=ids).update(enqueued_at=now)
    for outbox_id in ids:
        transaction.on_commit(partial(_enqueue, outbox_id))
    if ids:
        logger.warning("sweeper re-enqueued %d owed emails: %s", len(ids), ids)
    return ids
