"""Which adverse events a user may follow up: every id in a safety URL is resolved here, so "not found" and "not
yours to see" are the same 404."""

from django.http import Http404

from accounts.models import User
from audit.refusals import not_found
from safety.models import DelayedReaction
from treatments.models import AdverseEvent

FOLLOW_UP = "safety.change_adverseeventfollowup"


def get_adverse_event_for(user: User, pk: int) -> AdverseEvent:
    """An adverse event of a session note, with its session, patient and follow-up, for users who follow events
    up; otherwise 404."""
    if not user.is_authenticated:
        raise Http404
    if not user.has_perm(FOLLOW_UP):
        raise not_found("adverse event", pk, AdverseEvent.objects.all(), patient_field="session__course__patient_id")
    related = ("session__course__patient", "session__clinician", "follow_up__updated_by")
    event = AdverseEvent.objects.select_related(*related).filter(pk=pk).first()
    if event is None:
        raise Http404("No such adverse event.")
    return event


def get_delayed_reaction_for(user: User, pk: int) -> DelayedReaction:
    """A reaction reported after a session, with its session, patient and follow-up, for users who follow events
    up; otherwise 404."""
    if not user.is_authenticated:
        raise Http404
    if not user.has_perm(FOLLOW_UP):
        raise not_found("delayed reaction", pk, DelayedReaction.objects.all())
    related = ("patient", "session__clinician", "reported_by", "follow_up__updated_by")
    reaction = DelayedReaction.objects.select_related(*related).filter(pk=pk).first()
    if reaction is None:
        raise Http404("No such delayed reaction.")
    return reaction
