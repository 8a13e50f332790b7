"""The log's period, the follow-up form staff fill in, and the form a patient reports a delayed reaction with."""

from datetime import date, timedelta

from django import forms
from django.core.exceptions import ValidationError
from django.utils import dateformat, timezone

from patients.forms import DateInput
from patients.models import EARLIEST_BIRTH_DATE
from safety import services
from safety.models import (
    MAX_DESCRIPTION_LENGTH,
    MAX_RESOLUTION_NOTE_LENGTH,
    AdverseEventFollowUp,
    DelayedReaction,
    FollowUpStatus,
)
from safety.queries import Period
from treatments.models import AdverseEvent, AdverseEventKind, InjectionSession, Severity

# The visits a patient may say a reaction followed: their latest signed sessions, newest first.
REPORTABLE_VISITS = 10


def a_year_before(day: date) -> date:
    """The first day of the twelve months that end on `day` (the same date a year earlier, the day after it)."""
    try:
        earlier = day.replace(year=day.year - 1)
    except ValueError:  # 29 February
        earlier = day.replace(year=day.year - 1, day=28)
    return earlier + timedelta(days=1)


class PeriodForm(forms.Form):
    """From and to, both included; by default the last twelve months up to today."""

    first = forms.DateField(label="From", required=False, widget=DateInput())
    last = forms.DateField(label="To", required=False, widget=DateInput())

    def clean(self):
        cleaned = super().clean()
        last = cleaned.get("last") or timezone.localdate()
        first = cleaned.get("first") or a_year_before(last)
        if "first" in self.errors or "last" in self.errors:
            return cleaned
        if first < EARLIEST_BIRTH_DATE:
            self.add_error("first", "Choose a date from 1900 on.")
        elif first > last:
            self.add_error("first", "The start is after the end: swap the dates.")
        cleaned["first"], cleaned["last"] = first, last
        return cleaned

    @property
    def period(self) -> Period:
        return Period(self.cleaned_data["first"], self.cleaned_data["last"])


def default_period() -> Period:
    today = timezone.localdate()
    return Period(a_year_before(today), today)


class FollowUpForm(forms.Form):
    """Status, follow-up date and note of one event; the rules are services.check_follow_up's."""

    status = forms.ChoiceField(
        choices=FollowUpStatus.choices,
        error_messages={"invalid_choice": "Choose open, resolved or referred.", "required": "Choose a status."},
    )
    follow_up_on = forms.DateField(
        label="Follow-up date",
        required=False,
        widget=DateInput(),
        help_text="While open: when to follow it up next. Resolved or referred: the day it was.",
    )
    resolution_note = forms.CharField(
        label="Note",
        required=False,
        max_length=MAX_RESOLUTION_NOTE_LENGTH,
        help_text="How it was resolved, or to whom it was referred.",
    )

    def __init__(self, *args, event: AdverseEvent | DelayedReaction, **kwargs):
        super().__init__(*args, **kwargs)
        self.event = event

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        try:
            services.check_follow_up(
                self.event,
                status=cleaned["status"],
                follow_up_on=cleaned.get("follow_up_on"),
                resolution_note=cleaned.get("resolution_note", ""),
            )
        except ValidationError as error:
            for field, messages in error.message_dict.items():
                for message in messages:
                    self.add_error(field, message)
        return cleaned


def initial_of(follow_up: AdverseEventFollowUp | None) -> dict:
    if follow_up is None:
        return {"status": "open"}
    return {
        "status": follow_up.status,
        "follow_up_on": follow_up.follow_up_on,
        "resolution_note": follow_up.resolution_note,
    }


# The kinds and severities in the patient's own words; the values are the clinic's (treatments.models).
KIND_FOR_PATIENTS = {
    AdverseEventKind.BRUISING: "Bruising",
    AdverseEventKind.SITE_PAIN: "Pain where I was injected",
    AdverseEventKind.VASOVAGAL: "Feeling faint, or fainting",
    AdverseEventKind.ALLERGIC: "An allergic reaction: a rash, itching or swelling",
    AdverseEventKind.INFECTION: "Signs of infection: redness, heat, swelling or pus where I was injected, or a fever",
    AdverseEventKind.OTHER: "Something else",
}
SEVERITY_FOR_PATIENTS = {
    Severity.MILD: "Mild: I notice it, but it does not stop me doing things",
    Severity.MODERATE: "Moderate: it gets in the way of what I normally do",
    Severity.SEVERE: "Severe: I cannot do what I normally do, or I needed other medical help",
}


def visit_label(session: InjectionSession) -> str:
    """The visit's date as the patient reads it, short enough for a phone's screen: "5 December 2026"."""
    return dateformat.format(timezone.localtime(session.performed_at), "j F Y")


class ReactionReportForm(forms.Form):
    """What the patient tells us about a reaction after a visit. The visit is one of their own signed sessions
    (`sessions`, read by the view); another id is not a choice."""

    session = forms.TypedChoiceField(
        label="Which visit did it follow?",
        coerce=int,
        error_messages={"invalid_choice": "Choose one of your visits from the list."},
    )
    kind = forms.ChoiceField(
        label="What kind of reaction is it?",
        choices=list(KIND_FOR_PATIENTS.items()),
        widget=forms.RadioSelect,
        error_messages={"required": "Choose the kind of reaction.", "invalid_choice": "Choose one from the list."},
    )
    severity = forms.ChoiceField(
        label="How bad is it?",
        choices=list(SEVERITY_FOR_PATIENTS.items()),
        widget=forms.RadioSelect,
        error_messages={"required": "Choose how bad it is.", "invalid_choice": "Choose one from the list."},
    )
    description = forms.CharField(
        label="What happened?",
        help_text=(
            f"When it started, where on your body, and how it is now. Up to {MAX_DESCRIPTION_LENGTH:,} characters."
        ),
        max_length=MAX_DESCRIPTION_LENGTH,
        widget=forms.Textarea(attrs={"rows": 5}),
        error_messages={
            "required": "Please tell us what happened.",
            "max_length": f"Please keep it to {MAX_DESCRIPTION_LENGTH:,} characters (it has %(show_value)d).",
        },
    )

    def __init__(self, *args, sessions: list[InjectionSession], **kwargs):
        super().__init__(*args, **kwargs)
        self.sessions = {session.pk: session for session in sessions}
        visit = self.fields["session"]
        assert isinstance(visit, forms.TypedChoiceField)
        visit.choices = [(session.pk, visit_label(session)) for session in sessions]
        if sessions:
            visit.initial = sessions[0].pk

    def clean_session(self) -> InjectionSession:
        return self.sessions[self.cleaned_data["session"]]
