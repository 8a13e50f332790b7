"""The between-visit questions, as the patient answers them: only what their request asks."""

from django import forms

from assessments.models import PGIC
from outcomes.models import MeasureRequest
from portal.forms import _scale, _yes_no


class MeasureAnswerForm(forms.Form):
    """Pain now and on average (NRS), the PEG's other two items, the impression of change and whether more
    treatment was needed: each asked only when the request asks it, each required then. PEG's pain item is the
    average pain (asked once)."""

    scale_fields = ("nrs_now", "nrs_average", "peg_enjoyment", "peg_activity")
    yes_no_fields = ("further_treatment",)

    def __init__(self, *args, request: MeasureRequest, **kwargs):
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
