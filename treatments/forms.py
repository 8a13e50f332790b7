from datetime import date, timedelta
from decimal import Decimal
from functools import cached_property

from crispy_forms.helper import FormHelper
from crispy_forms.layout import Column, Fieldset, Layout, Row
from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from assessments.models import PGIC, Nerve, grouped_nerve_choices
from patients.forms import DateInput
from patients.models import Condition, Patient, check_not_before_birth
from treatments.models import (
    MAX_DEXTROSE_PERCENT,
    MAX_INTERVAL_DAYS,
    MAX_LIDOCAINE_PERCENT,
    MAX_MANNITOL_PERCENT,
    MAX_POINTS_PER_SITE,
    MAX_SESSIONS_PER_COURSE,
    MAX_VOLUME_PER_POINT_ML,
    Additive,
    AdverseEvent,
    CourseStatus,
    InjectionSession,
    InjectionSite,
    StopReason,
    TreatmentCourse,
)
from treatments.services import INFECTED_AREA, Alert

# A clock a few minutes fast on the tablet must not make "now" look like the future.
CLOCK_SKEW = timedelta(minutes=5)
ADDITIVE_LIMITS = {Additive.LIDOCAINE: MAX_LIDOCAINE_PERCENT, Additive.MANNITOL: MAX_MANNITOL_PERCENT}
# What the range checks below say when a number is out of range.
SESSIONS_RANGE = f"Between 1 and {MAX_SESSIONS_PER_COURSE} sessions."
INTERVAL_RANGE = f"Between 1 and {MAX_INTERVAL_DAYS} days."
DEXTROSE_RANGE = f"Dextrose must be more than 0% and at most {MAX_DEXTROSE_PERCENT}%."
POINTS_RANGE = f"Between 1 and {MAX_POINTS_PER_SITE} points."
VOLUME_RANGE = f"More than 0 and at most {MAX_VOLUME_PER_POINT_ML} mL per point."


class DateTimeInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, **kwargs):
        super().__init__(format="%Y-%m-%dT%H:%M", **kwargs)


def _helper(*layout) -> FormHelper:
    helper = FormHelper()
    helper.form_tag = False
    helper.layout = Layout(*layout)
    return helper


def check_range(value, maximum, message: str):
    """Refuse a number that is not more than 0 and at most `maximum` (a whole number: 1 to `maximum`);
    None, an optional field left empty, passes."""
    if value is not None and not 0 < value <= maximum:
        raise forms.ValidationError(message)
    return value


def check_not_before_course(course: TreatmentCourse, day: date) -> None:
    """Refuse a session or review dated before the course it belongs to started."""
    if day < course.started_on:
        raise forms.ValidationError(
            f"That is before the course started ({course.started_on:%d/%m/%Y}): check the date.",
            code="before_course",
        )


class CourseForm(forms.ModelForm):
    class Meta:
        model = TreatmentCourse
        fields = ["condition", "planned_sessions", "interval_days", "started_on"]
        widgets = {"started_on": DateInput()}

    def __init__(self, *args, patient: Patient, **kwargs):
        super().__init__(*args, **kwargs)
        self.patient = patient
        condition = self.fields["condition"]
        assert isinstance(condition, forms.ModelChoiceField)
        condition.queryset = Condition.objects.filter(active=True)
        self.fields["planned_sessions"].widget.attrs.update(min=1, max=MAX_SESSIONS_PER_COURSE)
        self.fields["interval_days"].widget.attrs.update(min=1, max=MAX_INTERVAL_DAYS)
        # A course is usually started the day it is planned; an unbound form's field initial is what it shows.
        self.fields["started_on"].initial = timezone.localdate()
        self.helper = _helper(
            "condition", Row(Column("planned_sessions"), Column("interval_days"), Column("started_on"))
        )

    def clean_started_on(self) -> date:
        started_on = self.cleaned_data["started_on"]
        check_not_before_birth(self.patient, started_on)
        return started_on

    def clean_planned_sessions(self) -> int:
        return check_range(self.cleaned_data["planned_sessions"], MAX_SESSIONS_PER_COURSE, SESSIONS_RANGE)

    def clean_interval_days(self) -> int:
        return check_range(self.cleaned_data["interval_days"], MAX_INTERVAL_DAYS, INTERVAL_RANGE)


class CourseCloseForm(forms.Form):
    """The course's outcome: completed, or discontinued for a reason from the list, and the patient's final
    impression of change when they have given it."""

    status = forms.ChoiceField(
        label="Outcome", choices=[(CourseStatus.COMPLETED, "Completed"), (CourseStatus.DISCONTINUED, "Discontinued")]
    )
    stop_reason = forms.ChoiceField(
        label="Reason for stopping (when discontinued)",
        choices=[("", "---------"), *StopReason.choices],
        required=False,
    )
    details = forms.CharField(label="Details", required=False, max_length=500)
    final_pgic = forms.TypedChoiceField(
        label="Patient's impression of change at the end",
        choices=[("", "Not asked"), *PGIC.choices],
        coerce=int,
        empty_value=None,
        required=False,
    )
    closed_on = forms.DateField(label="Closed on", widget=DateInput())

    def __init__(self, *args, course: TreatmentCourse, **kwargs):
        kwargs.setdefault("initial", {"closed_on": timezone.localdate()})
        super().__init__(*args, **kwargs)
        self.course = course

    def clean_closed_on(self):
        closed_on = self.cleaned_data["closed_on"]
        if closed_on < self.course.started_on:
            raise forms.ValidationError("A course cannot close before it started.")
        if closed_on > timezone.localdate():
            raise forms.ValidationError("A course cannot be closed on a day still to come.")
        return closed_on

    def clean(self):
        cleaned = super().clean()
        discontinued = cleaned.get("status") == CourseStatus.DISCONTINUED
        if discontinued and not cleaned.get("stop_reason"):
            self.add_error("stop_reason", "Choose why the course was discontinued.")
        if not discontinued:
            cleaned["stop_reason"] = ""
        if cleaned.get("stop_reason") == StopReason.OTHER and not cleaned.get("details", "").strip():
            self.add_error("details", "Say what the other reason was.")
        return cleaned


def _nrs_field(label: str) -> forms.IntegerField:
    return forms.IntegerField(label=label, min_value=0, max_value=10, required=False)


class SessionForm(forms.ModelForm):
    consent_confirmed = forms.BooleanField(
        label="I have confirmed the patient's consent to today's treatment.", required=True
    )

    class Meta:
        model = InjectionSession
        fields = [
            "performed_at",
            "pre_nrs",
            "post_nrs",
            "dextrose_percent",
            "diluent",
            "buffered",
            "additive",
            "additive_percent",
            "lot_number",
            "lot_expiry",
            "technique",
            "needle_gauge",
            "aftercare_given",
            "next_interval_days",
            "notes",
            "alert_override_reason",
        ]
        widgets = {
            "performed_at": DateTimeInput(),
            "lot_expiry": DateInput(),
            "notes": forms.Textarea(attrs={"rows": 3}),
            "alert_override_reason": forms.Textarea(attrs={"rows": 2}),
        }

    def __init__(self, *args, alerts: list[Alert], has_valid_consent: bool, **kwargs):
        super().__init__(*args, **kwargs)
        self.alerts = alerts
        self.has_valid_consent = has_valid_consent
        self.fields["pre_nrs"] = _nrs_field("Pain before injection (0-10)")
        self.fields["post_nrs"] = _nrs_field("Pain after injection (0-10)")
        self.fields["dextrose_percent"].widget.attrs.update(min="0.5", max="25", step="0.5")
        self.fields["additive_percent"].widget.attrs.update(min="0", max="10", step="0.05")
        self.fields["next_interval_days"].widget.attrs.update(min=1, max=MAX_INTERVAL_DAYS)
        self.fields["alert_override_reason"].help_text = "Needed only to go ahead despite a red alert above."
        self._mark_forbidden_additives()

    def _mark_forbidden_additives(self) -> None:
        """Say in the additive menu itself which choice an allergy rules out, before it is chosen."""
        forbidden = {alert.forbids for alert in self.alerts}
        field = self.fields["additive"]
        assert isinstance(field, forms.ChoiceField)
        if not forbidden & set(Additive.values):
            return
        field.choices = [
            (value, f"{label} (allergy: not for this patient)" if value in forbidden else label)
            for value, label in Additive.choices
        ]
        field.help_text = "An allergy is recorded or reported: see the red alert above."

    @property
    def site_warnings(self) -> list[str]:
        """The red alerts about where not to inject, repeated beside the injection sites."""
        return [alert.message for alert in self.alerts if alert.forbids == INFECTED_AREA]

    # The layouts are built when the form is drawn: a save that succeeds redirects without drawing it.
    @cached_property
    def helper(self) -> FormHelper:
        return _helper(
            Fieldset(
                "Session", Row(Column("performed_at"), Column("pre_nrs"), Column("post_nrs")), "consent_confirmed"
            ),
            Fieldset(
                "Solution",
                Row(Column("dextrose_percent"), Column("diluent"), Column("buffered")),
                Row(Column("additive"), Column("additive_percent")),
                Row(Column("lot_number"), Column("lot_expiry")),
                Row(Column("technique"), Column("needle_gauge")),
            ),
        )

    @cached_property
    def after_sites_helper(self) -> FormHelper:
        return _helper(
            Fieldset(
                "After the injection",
                Row(Column("aftercare_given"), Column("next_interval_days")),
                "notes",
                "alert_override_reason",
            )
        )

    def clean_performed_at(self):
        performed_at = self.cleaned_data["performed_at"]
        if performed_at > timezone.now() + CLOCK_SKEW:
            raise forms.ValidationError("A session cannot be dated in the future.")
        course, day = self.instance.course, timezone.localdate(performed_at)
        check_not_before_birth(course.patient, day)
        check_not_before_course(course, day)
        return performed_at

    def clean_dextrose_percent(self):
        return check_range(self.cleaned_data["dextrose_percent"], MAX_DEXTROSE_PERCENT, DEXTROSE_RANGE)

    def clean_next_interval_days(self):
        return check_range(self.cleaned_data["next_interval_days"], MAX_INTERVAL_DAYS, INTERVAL_RANGE)

    def clean_lot_number(self) -> str:
        return self.cleaned_data["lot_number"].strip()

    def clean(self):
        cleaned = super().clean()
        if not self.has_valid_consent:
            raise forms.ValidationError("The patient has no valid consent on file. Record consent before treating.")
        self._check_scores(cleaned)
        self._check_additive(cleaned)
        self._check_lot(cleaned)
        self._check_alerts(cleaned)
        return cleaned

    def _check_scores(self, cleaned) -> None:
        if cleaned.get("post_nrs") is not None and cleaned.get("pre_nrs") is None and "pre_nrs" not in self.errors:
            self.add_error("post_nrs", "Record the pain score before the injection first.")

    def _check_additive(self, cleaned) -> None:
        additive, percent = cleaned.get("additive"), cleaned.get("additive_percent")
        if additive == Additive.NONE:
            if percent is not None:
                self.add_error("additive_percent", "Leave empty when there is no additive.")
            return
        limit = ADDITIVE_LIMITS.get(additive)
        if limit is not None and (percent is None or not 0 < percent <= limit):
            self.add_error("additive_percent", f"Give the {additive} strength: more than 0% and at most {limit}%.")

    def _check_lot(self, cleaned) -> None:
        expiry, performed_at = cleaned.get("lot_expiry"), cleaned.get("performed_at")
        if expiry and performed_at and expiry < timezone.localtime(performed_at).date():
            self.add_error("lot_expiry", f"This lot expired on {expiry:%d/%m/%Y}: use another.")

    def _check_alerts(self, cleaned) -> None:
        if any(alert.blocking for alert in self.alerts) and not cleaned.get("alert_override_reason", "").strip():
            self.add_error(
                "alert_override_reason", "A red alert applies: give the reason for going ahead, or do not treat today."
            )


def active_nerves() -> list[Nerve]:
    """The nerves a site may name now (a manager may retire or rename one in the admin), read once per page."""
    return list(Nerve.objects.filter(active=True))


class NerveChoiceField(forms.ModelChoiceField):
    """Chooses from the nerves read once for the whole site formset, grouped by region: a posted id is looked up
    among them, not with a query per site row as ModelChoiceField would."""

    def __init__(self, nerves: list[Nerve], **kwargs):
        super().__init__(queryset=Nerve.objects.none(), **kwargs)
        self.nerves_by_id = {str(nerve.pk): nerve for nerve in nerves}
        self.choices = grouped_nerve_choices(nerves)

    def to_python(self, value):
        if value in self.empty_values:
            return None
        nerve = self.nerves_by_id.get(str(value))
        if nerve is None:
            raise ValidationError(self.error_messages["invalid_choice"], code="invalid_choice")
        return nerve


class SiteForm(forms.ModelForm):
    class Meta:
        model = InjectionSite
        fields = ["nerve", "side", "points", "volume_per_point_ml"]
        labels = {"volume_per_point_ml": "mL per point"}  # not "ML": Django capitalises verbose names

    def __init__(self, *args, nerves: list[Nerve] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        model_field = self.fields["nerve"]
        self.fields["nerve"] = NerveChoiceField(
            active_nerves() if nerves is None else nerves, label=model_field.label, required=model_field.required
        )
        self.fields["nerve"].error_messages["required"] = "Choose the nerve injected."
        self.fields["points"].widget.attrs.update(min=1, max=MAX_POINTS_PER_SITE, **{"data-site-points": ""})
        self.fields["volume_per_point_ml"].widget.attrs.update(
            min="0.05", max=str(MAX_VOLUME_PER_POINT_ML), step="0.05", **{"data-site-volume": ""}
        )

    def clean_points(self) -> int:
        return check_range(self.cleaned_data["points"], MAX_POINTS_PER_SITE, POINTS_RANGE)

    def clean_volume_per_point_ml(self):
        return check_range(self.cleaned_data["volume_per_point_ml"], MAX_VOLUME_PER_POINT_ML, VOLUME_RANGE)


SiteFormSet = forms.inlineformset_factory(
    InjectionSession, InjectionSite, form=SiteForm, extra=1, max_num=30, validate_max=True, can_delete=True
)


def entered_sites(sites) -> list[tuple[int, Decimal]]:
    """Each site's (points, mL per point) as the site formset holds them: unbound, the saved sites; bound (the form
    as posted), the rows whose two values are valid, less those ticked for removal."""
    if not sites.is_bound:
        return [(form.instance.points, form.instance.volume_per_point_ml) for form in sites.initial_forms]
    sites.is_valid()  # cleans every row, once: a formset already validated is not cleaned again
    entered = []
    for form in sites.forms:
        points, volume = form.cleaned_data.get("points"), form.cleaned_data.get("volume_per_point_ml")
        if points is not None and volume is not None and not form.cleaned_data.get("DELETE"):
            entered.append((points, volume))
    return entered


class AdverseEventForm(forms.ModelForm):
    class Meta:
        model = AdverseEvent
        fields = ["kind", "severity", "note"]


AdverseEventFormSet = forms.inlineformset_factory(
    InjectionSession, AdverseEvent, form=AdverseEventForm, extra=1, max_num=10, validate_max=True, can_delete=True
)


class AddendumForm(forms.Form):
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=4000, label="Addendum")

    def clean_text(self) -> str:
        text = self.cleaned_data["text"].strip()
        if not text:
            raise forms.ValidationError("Write the correction or note.")
        return text
