"""The forms of outcomes: the between-visit questions as the patient answers them (only what their request asks),
and the outcomes report's period."""

from collections.abc import Mapping
from datetime import date, timedelta

from django import forms
from django.utils import timezone

from assessments.models import PGIC
from outcomes.models import MeasureRequest
from patients.forms import check_date_order, record_day_field
from portal.forms import _scale, _yes_no
from safety.forms import KIND_FOR_PATIENTS, SEVERITY_FOR_PATIENTS
from safety.models import MAX_DESCRIPTION_LENGTH

# With no period given, the report counts the courses started in the last year, today included.
DEFAULT_PERIOD = timedelta(days=365)
# The longest period counted at once: the report reads every course started in it, so its time grows with the
# period (docs/performance.md, at 100,000 patients: about 0.55 s for a year, 1 s for two, 2.5 s for five, 17 s
# since 1900). Longer spans are read a period at a time.
MAX_PERIOD = timedelta(days=731)


def _day(label: str) -> forms.DateField:
    return record_day_field(label, error_messages={"invalid": "Enter a date, for example 2026-01-31."})


def default_period() -> tuple[date, date]:
    today = timezone.localdate()
    return today - DEFAULT_PERIOD, today


class ReportPeriodForm(forms.Form):
    """From and to, both days included. Always bound: a day not given is the default period's (a year ago, today),
    filled in so that the form shows the period counted."""

    started_from = _day("Courses started from")
    started_to = _day("up to and including")

    def __init__(self, data: Mapping[str, str], **kwargs):
        default_from, default_to = default_period()
        filled = {
            "started_from": data.get("started_from") or default_from.isoformat(),
            "started_to": data.get("started_to") or default_to.isoformat(),
        }
        super().__init__(filled, **kwargs)

    def clean(self) -> dict:
        cleaned = super().clean() or {}
        start, end = cleaned.get("started_from"), cleaned.get("started_to")
        check_date_order(start, end)
        if start and end and end - start > MAX_PERIOD:
            raise forms.ValidationError(
                "Choose a period of at most two years; for a longer span, look at one period after another.",
                code="period_too_long",
            )
        return cleaned

    def period(self) -> tuple[date, date]:
        """The period asked for; call after is_valid()."""
        return self.cleaned_data["started_from"], self.cleaned_data["started_to"]


class MeasureAnswerForm(forms.Form):
    """Pain now and on average (NRS), the PEG's other two items, the impression of change and whether more
    treatment was needed: each asked only when the request asks it, each required then. PEG's pain item is the
    average pain (asked once)."""

    scale_fields = ("nrs_now", "nrs_average", "peg_enjoyment", "peg_activity")
    yes_no_fields = ("further_treatment", "had_reaction")

    def __init__(self, *args, request: MeasureRequest, offer_reaction: bool = False, **kwargs):
        """`offer_reaction`: ask about a reaction since the last injection (the patient has a signed session)."""
        super().__init__(*args, **kwargs)
        if request.ask_nrs:
            self.fields["nrs_now"] = _scale("How bad is your pain right now?", "No pain", "Worst pain you can imagine")
        if request.ask_nrs or request.ask_peg:
            self.fields["nrs_average"] = _scale(
                "What number best describes your pain on average in the past week?", "No pain", "Worst pain"
            )
        if request.ask_peg:
            self.fields["peg_enjoyment"] = _scale(
                "In the past week, how much has pain interfered with your enjoyment of life?",
                "Did not interfere",
                "Completely interfered",
            )
            self.fields["peg_activity"] = _scale(
                "In the past week, how much has pain interfered with your general activity?",
                "Did not interfere",
                "Completely interfered",
            )
        if request.ask_pgic:
            self.fields["pgic"] = forms.TypedChoiceField(
                label="Since the start of your treatment, how would you describe the change in your condition?",
                choices=PGIC.choices,
                coerce=int,
                widget=forms.RadioSelect,
                error_messages={"required": "Please choose the answer closest to how you feel."},
            )
        if request.ask_further_treatment:
            self.fields["further_treatment"] = _yes_no(
                "Since your treatment ended, have you needed further treatment for this pain?"
            )
        if offer_reaction:
            self._add_reaction_fields()

    def _add_reaction_fields(self) -> None:
        self.fields["had_reaction"] = _yes_no("Since your last injection, have you had a reaction you think it caused?")
        self.fields["reaction_kind"] = forms.ChoiceField(
            label="If yes: what kind of reaction?", choices=list(KIND_FOR_PATIENTS.items()), required=False,
            widget=forms.RadioSelect,
        )  # fmt: skip
        self.fields["reaction_severity"] = forms.ChoiceField(
            label="If yes: how bad is it?", choices=list(SEVERITY_FOR_PATIENTS.items()), required=False,
            widget=forms.RadioSelect,
        )  # fmt: skip
        self.fields["reaction_description"] = forms.CharField(
            label="If yes: what happened?", required=False, max_length=MAX_DESCRIPTION_LENGTH,
            help_text="When it started, where on your body, and how it is now. Your clinician will be told.",
            widget=forms.Textarea(attrs={"rows": 4}),
        )  # fmt: skip

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("had_reaction"):
            messages = {
                "reaction_kind": "Choose the kind of reaction.",
                "reaction_severity": "Choose how bad it is.",
                "reaction_description": "Please tell us what happened.",
            }
            for field, message in messages.items():
                if not str(cleaned.get(field) or "").strip() and field not in self.errors:
                    self.add_error(field, message)
        return cleaned

    @property
    def reaction(self) -> dict | None:
        """The reaction reported, for safety.services.delayed_reaction_report; None when none was."""
        if not self.cleaned_data.get("had_reaction"):
            return None
        data = self.cleaned_data
        return {
            "kind": data["reaction_kind"],
            "severity": data["reaction_severity"],
            "description": data["reaction_description"],
        }
