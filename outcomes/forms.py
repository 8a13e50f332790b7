"""The outcomes report's period: the courses started from one day to another."""

from collections.abc import Mapping
from datetime import date, timedelta

from django import forms
from django.core.validators import MaxValueValidator, MinValueValidator
from django.utils import timezone

from patients.models import EARLIEST_BIRTH_DATE

# With no period given, the report counts the courses started in the last year, today included.
DEFAULT_PERIOD = timedelta(days=365)
# The longest period counted at once: the report reads every course started in it, so its time grows with the
# period (docs/performance.md, at 100,000 patients: about 0.55 s for a year, 1 s for two, 2.5 s for five, 17 s
# since 1900). Longer spans are read a period at a time.
MAX_PERIOD = timedelta(days=731)
# Dates outside these are typing mistakes (no course starts before a living patient was born).
LATEST_DAY = date(2999, 12, 31)


def _day(label: str) -> forms.DateField:
    return forms.DateField(
        label=label,
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        validators=[
            MinValueValidator(EARLIEST_BIRTH_DATE, message=f"Pick a date in {EARLIEST_BIRTH_DATE.year} or later."),
            MaxValueValidator(LATEST_DAY, message="Pick a date before the year 3000."),
        ],
        error_messages={"invalid": "Enter a date, for example 2026-01-31."},
    )


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
        if start and end and start > end:
            raise forms.ValidationError("The “from” date must be on or before the “to” date.", code="date_order")
        if start and end and end - start > MAX_PERIOD:
            raise forms.ValidationError(
                "Choose a period of at most two years; for a longer span, look at one period after another.",
                code="period_too_long",
            )
        return cleaned

    def period(self) -> tuple[date, date]:
        """The period asked for; call after is_valid()."""
        return self.cleaned_data["started_from"], self.cleaned_data["started_to"]
