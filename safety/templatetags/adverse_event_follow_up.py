"""Adverse-event follow-up on other apps' pages: the session page's events with their follow-up forms, and the
open events on the clinician's start page."""

from dataclasses import dataclass

from django import template

from safety.access import FOLLOW_UP
from safety.models import AdverseEventFollowUp, DelayedReaction, FollowUpStatus, follow_up_of
from safety.queries import open_counts
from treatments.models import AdverseEvent, InjectionSession

register = template.Library()


@dataclass(frozen=True)
class FollowedEvent:
    event: AdverseEvent | DelayedReaction
    follow_up: AdverseEventFollowUp | None
    prefix: str  # the ids of its form's fields, unique on the page

    @property
    def status_value(self) -> str:
        return self.follow_up.status if self.follow_up else FollowUpStatus.OPEN

    @property
    def status(self) -> str:
        return FollowUpStatus(self.status_value).label


@register.inclusion_tag("safety/_session_events.html", takes_context=True)
def session_adverse_events(context, session: InjectionSession, adverse_events: list[AdverseEvent]) -> dict:
    """The note's adverse events (read by the session page with their follow-ups) and, once the note is signed,
    the reactions reported after it: one query."""
    user = context["request"].user
    reactions = []
    if session.is_signed:
        reactions = list(
            DelayedReaction.objects.filter(session=session).select_related("follow_up").order_by("reported_at", "pk")
        )
    return {
        "csrf_token": context.get("csrf_token"),
        "signed": session.is_signed,
        "can_follow_up": user.has_perm(FOLLOW_UP),
        "events": [FollowedEvent(event, follow_up_of(event), f"event-{event.pk}") for event in adverse_events],
        "reactions": [
            FollowedEvent(reaction, follow_up_of(reaction), f"reaction-{reaction.pk}") for reaction in reactions
        ],
    }


@register.inclusion_tag("safety/_open_events_card.html", takes_context=True)
def open_adverse_events_card(context) -> dict:
    """How many adverse events are open, and how many of them follow the user's own sessions: two queries."""
    user = context["request"].user
    if not user.has_perm(FOLLOW_UP):
        return {"shown": False}
    return {"shown": True, "counts": open_counts(user)}
