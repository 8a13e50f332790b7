from django import forms
from django.utils import timezone

from patients.forms import DateInput
from patients.models import EARLIEST_BIRTH_DATE


class RegistryExportForm(forms.Form):
    """The period of an export: the courses started within it; either end may be left open."""

    started_from = forms.DateField(label="Courses started from", required=False, widget=DateInput())
    started_to = forms.DateField(
        label="Courses started up to",
        required=False,
        widget=DateInput(),
        help_text="Leave both blank for every course on record.",
    )

    def _check_day(self, field: str):
        day = self.cleaned_data.get(field)
        if day is not None and day < EARLIEST_BIRTH_DATE:
            raise forms.ValidationError(f"Give a date from {EARLIEST_BIRTH_DATE:%d/%m/%Y} on.")
        return day

    def clean_started_from(self):
        started_from = self._check_day("started_from")
        if started_from is not None and started_from > timezone.localdate():
            raise forms.ValidationError("No course has started after today: give a day up to today.")
        return started_from

    def clean_started_to(self):
        return self._check_day("started_to")

    def clean(self):
        cleaned = super().clean()
        started_from, started_to = cleaned.get("started_from"), cleaned.get("started_to")
        if started_from and started_to and started_to < started_from:
            self.add_error("started_to", "The end of the period is before its start.")
        return cleaned
