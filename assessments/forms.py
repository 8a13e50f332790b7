from crispy_forms.helper import FormHelper
from crispy_forms.layout import Column, Fieldset, Layout, Row
from django import forms
from django.utils import timezone

from assessments.models import (
    DN4_ITEMS,
    AnalgesicUse,
    Assessment,
    AssessmentKind,
    ContributingNerve,
    FunctionalActivity,
    Nerve,
)
from assessments.models import nerve_choices as grouped_nerves
from patients.models import Condition, check_not_before_birth
from treatments.forms import CLOCK_SKEW, DateTimeInput, check_not_before_course

# PEG's first item ("average pain, past week") is the NRS average: asked once, stored in both (clean()).
SCORE_FIELDS = ["nrs_current", "nrs_worst", "nrs_average", "peg_enjoyment", "peg_activity"]
MAX_PSFS_ACTIVITIES = 5


class AssessmentForm(forms.ModelForm):
    class Meta:
        model = Assessment
        fields = [
            "assessed_at",
            "presenting_complaint",
            "condition",
            "side",
            "duration_months",
            "aggravating_factors",
            *SCORE_FIELDS,
            *(field for field, _ in DN4_ITEMS),
            "pgic",
            "proposed_sessions",
            "proposed_interval_days",
            "plan_notes",
        ]
        widgets = {
            "assessed_at": DateTimeInput(),
            "presenting_complaint": forms.Textarea(attrs={"rows": 2}),
            "aggravating_factors": forms.Textarea(attrs={"rows": 2}),
            "plan_notes": forms.Textarea(attrs={"rows": 2}),
        }

    def __init__(self, *args, kind: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.instance.kind = kind
        condition = self.fields["condition"]
        assert isinstance(condition, forms.ModelChoiceField)
        condition.queryset = Condition.objects.filter(active=True)
        for field in SCORE_FIELDS:
            self.fields[field] = forms.IntegerField(
                label=self.fields[field].label,
                min_value=0,
                max_value=10,
                widget=forms.NumberInput(attrs={"min": 0, "max": 10}),
            )
        self.fields["nrs_average"].help_text = "Also the first item of the PEG."
        for field, wording in DN4_ITEMS:
            self.fields[field].label = wording
        scores = [
            Row(Column("nrs_current"), Column("nrs_worst"), Column("nrs_average")),
            Row(Column("peg_enjoyment"), Column("peg_activity")),
        ]
        if kind == AssessmentKind.REVIEW:
            self.fields["pgic"].required = True
            scores.append("pgic")
        else:
            del self.fields["pgic"]
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.layout = Layout(
            Fieldset(
                "History",
                Row(Column("assessed_at"), Column("condition"), Column("side"), Column("duration_months")),
                "presenting_complaint",
                "aggravating_factors",
            ),
            Fieldset("Pain scores (NRS 0-10) and PEG", *scores),
            Fieldset("DN4 neuropathic screen", *(field for field, _ in DN4_ITEMS)),
        )

    def clean_assessed_at(self):
        assessed_at = self.cleaned_data["assessed_at"]
        if assessed_at > timezone.now() + CLOCK_SKEW:
            raise forms.ValidationError("An assessment cannot be dated in the future.")
        day = timezone.localdate(assessed_at)
        check_not_before_birth(self.instance.patient, day)
        # A first assessment may lead to a course started later; a review belongs to a course already under way.
        if self.instance.kind == AssessmentKind.REVIEW and self.instance.course is not None:
            check_not_before_course(self.instance.course, day)
        return assessed_at

    def clean(self):
        cleaned = super().clean()
        self.instance.peg_pain = cleaned.get("nrs_average")
        return cleaned

    def clean_proposed_sessions(self):
        sessions = self.cleaned_data["proposed_sessions"]
        if sessions is not None and not 1 <= sessions <= 20:
            raise forms.ValidationError("Between 1 and 20 sessions.")
        return sessions

    def clean_proposed_interval_days(self):
        days = self.cleaned_data["proposed_interval_days"]
        if days is not None and not 1 <= days <= 90:
            raise forms.ValidationError("Between 1 and 90 days.")
        return days

    def clean_duration_months(self):
        months = self.cleaned_data["duration_months"]
        if months is not None and months > 1200:
            raise forms.ValidationError("At most 1200 months.")
        return months


class ActivityForm(forms.ModelForm):
    score = forms.IntegerField(min_value=0, max_value=10, label="Score (0 = unable, 10 = as before)")

    class Meta:
        model = FunctionalActivity
        fields = ["activity", "score"]


class AnalgesicForm(forms.ModelForm):
    doses_per_week = forms.DecimalField(min_value=0, max_value=100, decimal_places=1, max_digits=5)

    class Meta:
        model = AnalgesicUse
        fields = ["drug", "dose", "doses_per_week"]


class NerveForm(forms.ModelForm):
    class Meta:
        model = ContributingNerve
        fields = ["nerve", "side"]

    def __init__(self, *args, nerve_choices: list | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        nerve = self.fields["nerve"]
        assert isinstance(nerve, forms.ModelChoiceField)
        nerve.queryset = Nerve.objects.filter(active=True)
        # Shared by every row of the formset, so the page queries the nerve list once.
        nerve.choices = nerve_choices if nerve_choices is not None else grouped_nerves()


def _formset(model, form, extra: int, max_num: int):
    return forms.inlineformset_factory(
        Assessment, model, form=form, extra=extra, max_num=max_num, validate_max=True, can_delete=False
    )


ActivityFormSet = _formset(FunctionalActivity, ActivityForm, extra=3, max_num=MAX_PSFS_ACTIVITIES)
AnalgesicFormSet = _formset(AnalgesicUse, AnalgesicForm, extra=2, max_num=20)
NerveFormSet = _formset(ContributingNerve, NerveForm, extra=3, max_num=30)
