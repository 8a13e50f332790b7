"""What became of each adverse event: the events a session note records, and the reactions a patient reports after
a session.

A signed session note and its adverse events never change (treatments/0002), so an event's follow-up lives here,
beside it: one AdverseEventFollowUp per followed event. An event with no follow-up row is open. A reaction the
patient reports later is a DelayedReaction, kept exactly as reported (migration 0002's trigger), whose follow-up is
an AdverseEventFollowUp like any other event's.
"""

from datetime import date

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from patients.models import EARLIEST_BIRTH_DATE, EARLIEST_MOMENT, Patient
from pit_portal.history import track_changes
from treatments.models import AdverseEvent, AdverseEventKind, InjectionSession, Severity

MAX_DESCRIPTION_LENGTH = 1000
MAX_RESOLUTION_NOTE_LENGTH = 1000


class FollowUpStatus(models.TextChoices):
    OPEN = "open", "Open"
    RESOLVED = "resolved", "Resolved"
    REFERRED = "referred", "Referred"


# A closed event says how it was closed (the note) and when (the follow-up date).
CLOSED_STATUSES = (FollowUpStatus.RESOLVED, FollowUpStatus.REFERRED)


class ReportedVia(models.TextChoices):
    PORTAL = "portal", "Patient portal"
    BETWEEN_VISIT_FORM = "between_visit_form", "Between-visit form"
    STAFF = "staff", "Told to staff"


# Reports that someone signed in made: the patient in the portal, or the member of staff who wrote it down.
VIA_SIGNED_IN = (ReportedVia.PORTAL, ReportedVia.STAFF)


def one_of(field: str, choices: type[models.TextChoices], name: str) -> models.CheckConstraint:
    return models.CheckConstraint(condition=Q(**{f"{field}__in": choices.values}), name=name)


@track_changes()
class DelayedReaction(models.Model):
    """A reaction the patient reports after a signed session (a bruise that spread, a fever two days later),
    attached to that session. The patient's words are kept as given: the database refuses any change or removal
    (migration 0002), so what staff do about it is its follow-up, never an edit."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="delayed_reactions")
    session = models.ForeignKey(InjectionSession, on_delete=models.PROTECT, related_name="delayed_reactions")
    kind = models.CharField(max_length=12, choices=AdverseEventKind.choices, default=AdverseEventKind.OTHER)
    severity = models.CharField(max_length=10, choices=Severity.choices)
    description = models.CharField("what happened", max_length=MAX_DESCRIPTION_LENGTH)
    reported_at = models.DateTimeField(default=timezone.now)
    reported_via = models.CharField(max_length=20, choices=ReportedVia.choices)
    reported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-reported_at", "-id"]
        constraints = [
            one_of("kind", AdverseEventKind, "delayed_reaction_kind_known"),
            one_of("severity", Severity, "delayed_reaction_severity_known"),
            one_of("reported_via", ReportedVia, "delayed_reaction_via_known"),
            models.CheckConstraint(condition=~Q(description=""), name="delayed_reaction_description_given"),
            models.CheckConstraint(
                condition=Q(reported_at__gte=EARLIEST_MOMENT), name="delayed_reaction_reported_after_1900"
            ),
            models.CheckConstraint(
                condition=~Q(reported_via__in=VIA_SIGNED_IN) | Q(reported_by__isnull=False),
                name="delayed_reaction_reporter_named",
                violation_error_message="A report made in the portal or to staff names who made it.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.severity}) reported {self.reported_at:%d/%m/%Y}"


@track_changes()
class AdverseEventFollowUp(models.Model):
    """The follow-up of one adverse event: either one recorded in a session note or a delayed reaction.

    `follow_up_on` is the date the event is to be followed up while it is open, and the date it was resolved or
    referred once it is closed; a closed event has both that date and a note."""

    adverse_event = models.OneToOneField(
        AdverseEvent, null=True, blank=True, on_delete=models.PROTECT, related_name="follow_up"
    )
    delayed_reaction = models.OneToOneField(
        DelayedReaction, null=True, blank=True, on_delete=models.PROTECT, related_name="follow_up"
    )
    status = models.CharField(max_length=10, choices=FollowUpStatus.choices, default=FollowUpStatus.OPEN)
    follow_up_on = models.DateField("follow-up date", null=True, blank=True)
    resolution_note = models.CharField(max_length=MAX_RESOLUTION_NOTE_LENGTH, blank=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "adverse event follow-up"
        constraints = [
            models.CheckConstraint(
                condition=Q(adverse_event__isnull=False, delayed_reaction__isnull=True)
                | Q(adverse_event__isnull=True, delayed_reaction__isnull=False),
                name="follow_up_of_one_event",
            ),
            one_of("status", FollowUpStatus, "follow_up_status_known"),
            models.CheckConstraint(
                condition=~Q(status__in=CLOSED_STATUSES) | (Q(follow_up_on__isnull=False) & ~Q(resolution_note="")),
                name="follow_up_closed_with_date_and_note",
                violation_error_message="A resolved or referred event needs the date and a note saying how.",
            ),
            models.CheckConstraint(
                condition=Q(follow_up_on__isnull=True) | Q(follow_up_on__gte=EARLIEST_BIRTH_DATE),
                name="follow_up_on_after_1900",
            ),
        ]

    def __str__(self) -> str:
        return f"Follow-up {self.get_status_display().lower()}"

    @property
    def is_open(self) -> bool:
        return self.status == FollowUpStatus.OPEN


def follow_up_of(event: AdverseEvent | DelayedReaction) -> AdverseEventFollowUp | None:
    """The event's follow-up row, None while it has none (read through select_related where a page lists many)."""
    try:
        return event.follow_up
    except AdverseEventFollowUp.DoesNotExist:
        return None


def earliest_follow_up(event: AdverseEvent | DelayedReaction) -> date:
    """The first day a follow-up of the event can be dated: the session's day, or the day a later reaction was
    reported (in the clinic's time zone)."""
    if isinstance(event, DelayedReaction):
        return timezone.localdate(event.reported_at)
    return timezone.localdate(event.session.performed_at)
