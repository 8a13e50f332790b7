"""Writes of the safety app: a reaction the patient reports after a session, and the follow-up of any adverse event.

Other apps call `delayed_reaction_report` (the portal's page here, the between-visit form); each write checks
what the database's triggers and constraints also refuse (migration 0002), with messages a person can act on.
"""

from datetime import date, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import User
from patients.models import Patient
from safety.models import (
    CLOSED_STATUSES,
    AdverseEventFollowUp,
    DelayedReaction,
    FollowUpStatus,
    earliest_follow_up,
)
from treatments.models import AdverseEvent, AdverseEventKind, InjectionSession

# An open event's next follow-up may be planned up to a year ahead; a later date is a slip of the year.
MAX_FOLLOW_UP_AHEAD = timedelta(days=366)

NO_SIGNED_SESSION = (
    "There is no signed session note to attach this reaction to: a delayed reaction follows a treatment session "
    "whose note has been signed. Tell the clinic directly, or report it after the note is signed."
)
NOT_THE_PATIENTS_SESSION = "A delayed reaction can only follow one of the patient's own signed sessions."
DRAFT_EVENT = "This session note is still a draft: sign it before following up its adverse events."


def reportable_sessions(patient: Patient) -> QuerySet[InjectionSession]:
    """The patient's signed sessions that have taken place, newest first: what a later reaction can follow."""
    return InjectionSession.objects.filter(
        course__patient=patient, signed_at__isnull=False, performed_at__lte=timezone.now()
    ).order_by("-performed_at", "-pk")


@transaction.atomic
def delayed_reaction_report(
    *,
    patient: Patient,
    description: str,
    severity: str,
    kind: str = AdverseEventKind.OTHER,
    via: str,
    by: User | None = None,
    session: InjectionSession | None = None,
) -> DelayedReaction:
    """Record a reaction `patient` reports after a session, as reported, open for the clinician to follow up.

    `session` is the signed session it follows, by default the patient's latest. `via` is a ReportedVia value; `by`
    is who wrote the report (the patient in the portal, the member of staff they told; required for those two).
    Raises ValidationError, saving nothing, when the patient has no signed session to attach it to, when `session`
    is not one of theirs, or when a value is out of bounds (unknown kind, severity or channel; an empty or
    over-long description)."""
    sessions = reportable_sessions(patient)
    if session is None:
        session = sessions.first()
        if session is None:
            raise ValidationError(NO_SIGNED_SESSION, code="no_signed_session")
    elif not sessions.filter(pk=session.pk).exists():
        raise ValidationError(NOT_THE_PATIENTS_SESSION, code="not_patients_session")
    reaction = DelayedReaction(
        patient=patient,
        session=session,
        kind=kind,
        severity=severity,
        description=description.strip(),
        reported_via=via,
        reported_by=by,
    )
    # The patient and session are rows just read; the checks are the fields' and the constraints'.
    reaction.full_clean(exclude=["patient", "session"])
    reaction.save()
    return reaction


def check_follow_up(
    event: AdverseEvent | DelayedReaction, *, status: str, follow_up_on: date | None, resolution_note: str
) -> None:
    """Refuse a follow-up that does not make sense, with a message per field (what the database refuses too):
    an unknown status; a resolved or referred event without its date or a note; a date before the event, a
    closed event dated in the future, or a next follow-up more than a year ahead."""
    if status not in FollowUpStatus.values:
        raise ValidationError({"status": "Choose open, resolved or referred."})
    errors: dict[str, str] = {}
    today = timezone.localdate()
    closed = status in CLOSED_STATUSES
    if closed and not resolution_note.strip():
        errors["resolution_note"] = "Say how it was resolved, or to whom it was referred."
    if closed and follow_up_on is None:
        errors["follow_up_on"] = "Give the date it was resolved or referred."
    elif follow_up_on is not None:
        earliest = earliest_follow_up(event)
        if follow_up_on < earliest:
            what = "the reaction was reported" if isinstance(event, DelayedReaction) else "the session"
            errors["follow_up_on"] = f"That is before {what} ({earliest:%d/%m/%Y}): check the date."
        elif closed and follow_up_on > today:
            errors["follow_up_on"] = "A resolved or referred event is dated today or earlier."
        elif follow_up_on > today + MAX_FOLLOW_UP_AHEAD:
            errors["follow_up_on"] = "A follow-up can be planned up to a year ahead: check the year."
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def follow_up_update(
    *,
    event: AdverseEvent | DelayedReaction,
    status: str,
    follow_up_on: date | None,
    resolution_note: str,
    by: User,
) -> AdverseEventFollowUp:
    """Set the event's follow-up (made at its first update). Raises ValidationError, saving nothing, for a draft
    session's event or for what check_follow_up refuses."""
    if isinstance(event, AdverseEvent) and not event.session.is_signed:
        raise ValidationError(DRAFT_EVENT, code="draft")
    check_follow_up(event, status=status, follow_up_on=follow_up_on, resolution_note=resolution_note)
    target = {"delayed_reaction": event} if isinstance(event, DelayedReaction) else {"adverse_event": event}
    values = {"status": status, "follow_up_on": follow_up_on, "resolution_note": resolution_note.strip()}
    # Field checks (the note's length); the event and user are rows just read, the rules are checked above.
    AdverseEventFollowUp(**values).full_clean(
        exclude=["adverse_event", "delayed_reaction", "updated_by"], validate_unique=False, validate_constraints=False
    )
    # One row per event whatever the race: update_or_create locks the row, or retries the read if two first
    # updates meet at the unique constraint.
    follow_up, _ = AdverseEventFollowUp.objects.update_or_create(**target, defaults={**values, "updated_by": by})
    return follow_up
