"""Read-only selections: every adverse event of a period (those recorded in signed session notes and the reactions
reported after them), the open ones, and their counts for the clinician's start page.

A draft's adverse events are never listed or counted: the note may still change. Each list is two queries (one
per kind of event) whatever its length.
"""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import Count, Q, QuerySet
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from patients.models import Patient
from safety.models import AdverseEventFollowUp, DelayedReaction, FollowUpStatus, follow_up_of
from treatments.models import AdverseEvent, InjectionSession

# An event is open until its follow-up says otherwise: no follow-up row yet, or one that is still open.
OPEN = Q(follow_up__isnull=True) | Q(follow_up__status=FollowUpStatus.OPEN)


@dataclass(frozen=True)
class Period:
    """The clinic's days from `first` to `last`, both included."""

    first: date
    last: date

    @property
    def starts(self) -> datetime:
        return timezone.make_aware(datetime.combine(self.first, time.min))

    @property
    def ends(self) -> datetime:
        """The first moment after the period (midnight after its last day)."""
        return timezone.make_aware(datetime.combine(self.last + timedelta(days=1), time.min))


@dataclass(frozen=True)
class LoggedEvent:
    """One adverse event as the log shows it, whichever kind it is. `on` is the day it became known: the session's
    day for an event in the note, the day of the report for a delayed reaction."""

    delayed: bool
    pk: int
    on: date
    patient: Patient
    session: InjectionSession
    kind: str
    severity: str
    severity_value: str
    status: str
    status_value: str
    follow_up_on: date | None
    source: str

    @property
    def is_open(self) -> bool:
        return self.status_value == FollowUpStatus.OPEN

    @property
    def follow_up_url(self) -> str:
        name = "safety:reaction_follow_up" if self.delayed else "safety:event_follow_up"
        return reverse(name, args=[self.pk])


def _status(follow_up: AdverseEventFollowUp | None) -> tuple[str, str, date | None]:
    if follow_up is None:
        return FollowUpStatus.OPEN.label, FollowUpStatus.OPEN.value, None
    return follow_up.get_status_display(), follow_up.status, follow_up.follow_up_on


def _session_event(event: AdverseEvent) -> LoggedEvent:
    status, status_value, follow_up_on = _status(follow_up_of(event))
    return LoggedEvent(
        delayed=False,
        pk=event.pk,
        on=timezone.localdate(event.session.performed_at),
        patient=event.session.course.patient,
        session=event.session,
        kind=event.get_kind_display(),
        severity=event.get_severity_display(),
        severity_value=event.severity,
        status=status,
        status_value=status_value,
        follow_up_on=follow_up_on,
        source="Session note",
    )


def _delayed_reaction(reaction: DelayedReaction) -> LoggedEvent:
    status, status_value, follow_up_on = _status(follow_up_of(reaction))
    return LoggedEvent(
        delayed=True,
        pk=reaction.pk,
        on=timezone.localdate(reaction.reported_at),
        patient=reaction.patient,
        session=reaction.session,
        kind=reaction.get_kind_display(),
        severity=reaction.get_severity_display(),
        severity_value=reaction.severity,
        status=status,
        status_value=status_value,
        follow_up_on=follow_up_on,
        source=f"Reported later ({reaction.get_reported_via_display().lower()})",
    )


def session_events() -> QuerySet[AdverseEvent]:
    """Adverse events of signed session notes, with what the log shows of them."""
    return AdverseEvent.objects.filter(session__signed_at__isnull=False).select_related(
        "session__course__patient", "session__clinician", "follow_up"
    )


def delayed_reactions() -> QuerySet[DelayedReaction]:
    return DelayedReaction.objects.select_related("patient", "session__clinician", "follow_up")


def in_period(period: Period) -> Q:
    """Events of the sessions performed in the period (a delayed reaction counts with the session it follows, so
    the log and the rates per session count the same events)."""
    return Q(session__performed_at__gte=period.starts, session__performed_at__lt=period.ends)


@dataclass(frozen=True)
class EventLog:
    events: list[LoggedEvent]  # the period's, newest first
    open_events: list[LoggedEvent]  # every open event whatever its date: the viewer's own sessions' first


def event_log(period: Period, viewer: User) -> EventLog:
    """The period's events and every open one, read together: two queries in all."""
    both = in_period(period) | OPEN
    rows = [_session_event(event) for event in session_events().filter(both)]
    rows += [_delayed_reaction(reaction) for reaction in delayed_reactions().filter(both)]
    rows.sort(key=lambda row: (row.on, row.session.performed_at, row.delayed, row.pk), reverse=True)
    starts, ends = period.starts, period.ends
    events = [row for row in rows if starts <= row.session.performed_at < ends]
    open_events = [row for row in rows if row.is_open]
    # Stable sort: the viewer's own sessions first, each part newest first as above.
    open_events.sort(key=lambda row: row.session.clinician_id != viewer.pk)
    return EventLog(events=events, open_events=open_events)


def period_events(period: Period) -> list[LoggedEvent]:
    """The period's events only, newest first (the CSV): two queries."""
    rows = [_session_event(event) for event in session_events().filter(in_period(period))]
    rows += [_delayed_reaction(reaction) for reaction in delayed_reactions().filter(in_period(period))]
    rows.sort(key=lambda row: (row.on, row.session.performed_at, row.delayed, row.pk), reverse=True)
    return rows


@dataclass(frozen=True)
class OpenCounts:
    total: int
    yours: int


def open_counts(clinician: User) -> OpenCounts:
    """How many adverse events are open in the clinic, and how many follow this clinician's sessions: two queries."""
    counts = {"total": Count("pk"), "yours": Count("pk", filter=Q(session__clinician=clinician))}
    in_notes = session_events().filter(OPEN).order_by().aggregate(**counts)
    reported = DelayedReaction.objects.filter(OPEN).order_by().aggregate(**counts)
    return OpenCounts(total=in_notes["total"] + reported["total"], yours=in_notes["yours"] + reported["yours"])
