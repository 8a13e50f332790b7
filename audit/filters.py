"""The managers' audit report: which events to show, and in what order (django-filter)."""

from collections.abc import Mapping
from datetime import date, datetime, time, timedelta

import django_filters
from django import forms
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db.models import QuerySet
from django.utils import timezone

from audit.models import Action, AuditEvent
from patients.forms import LATEST_DAY, check_date_order
from patients.models import Patient
from patients.search import patient_search

# Dates outside these are typing mistakes (the trail began after 2000).
EARLIEST_DAY = date(2000, 1, 1)
SEARCH_MAX = 100

# ?o= parameter -> model field, in the order the report's columns appear. Every column can be sorted; anything
# else is a form error (400). A column's heading is its sort choice's label: the parameter's, or the one given to
# the ordering filter.
SORTABLE_COLUMNS = {
    "when": "occurred_at",
    "user": "actor_username",
    "action": "action",
    "patient": "patient__clinic_number",
    "object": "object_type",
    "source": "source",
    "address": "ip_address",
}


def start_of(day: date) -> datetime:
    """Midnight at the clinic, as an aware datetime: the range filters compare occurred_at itself (indexed)."""
    return timezone.make_aware(datetime.combine(day, time.min))


def matching_patients(search: str) -> "QuerySet[Patient, Mapping[str, object]]":
    """Patients a clinic number, name or birth date finds, the way the patient search finds them."""
    return patient_search(search).values("pk")


class AuditFilterForm(forms.Form):
    def clean(self):
        cleaned = super().clean()
        check_date_order(cleaned.get("date_from"), cleaned.get("date_to"))
        return cleaned


class ReportOrdering(django_filters.OrderingFilter):
    """Sorts by the chosen columns, then newest first, so equal values page in a stable order."""

    def filter(self, qs, value):
        return super().filter(qs, [*value, "-id"]) if value else qs


def _day_filter(label: str, method: str) -> django_filters.DateFilter:
    return django_filters.DateFilter(
        label=label,
        method=method,
        widget=forms.DateInput(attrs={"type": "date"}),
        validators=[
            MinValueValidator(EARLIEST_DAY, message="Pick a date in 2000 or later."),
            MaxValueValidator(LATEST_DAY, message="Pick a date before the year 3000."),
        ],
    )


class AuditEventFilter(django_filters.FilterSet):
    patient = django_filters.CharFilter(
        label="Patient",
        method="filter_patient",
        max_length=SEARCH_MAX,
        help_text="Clinic number, name or date of birth.",
    )
    user = django_filters.CharFilter(
        label="User", field_name="actor_username", lookup_expr="iexact", max_length=150, help_text="Username."
    )
    action = django_filters.ChoiceFilter(label="Action", choices=Action.choices, empty_label="Any action")
    date_from = _day_filter("From", "filter_from")
    date_to = _day_filter("To", "filter_to")
    o = ReportOrdering(
        fields=[(field, param) for param, field in SORTABLE_COLUMNS.items()], field_labels={"object_type": "Record"}
    )

    class Meta:
        model = AuditEvent
        fields: list[str] = []
        form = AuditFilterForm

    def filter_patient(self, queryset, name, value):
        return queryset.filter(patient__in=matching_patients(value))

    def filter_from(self, queryset, name, value):
        return queryset.filter(occurred_at__gte=start_of(value))

    def filter_to(self, queryset, name, value):
        return queryset.filter(occurred_at__lt=start_of(value + timedelta(days=1)))

    def sort_headers(self) -> list[dict]:
        """Each column's heading with the ?o= value a click on it asks for: ascending first, then descending."""
        current = (self.form.cleaned_data.get("o") or [""])[0] if self.is_bound else ""
        labels = dict(self.form.fields["o"].choices)
        headers = []
        for param in SORTABLE_COLUMNS:
            sort = {param: "ascending", f"-{param}": "descending"}.get(current, "")
            headers.append(
                {"label": labels[param], "next": f"-{param}" if sort == "ascending" else param, "sort": sort}
            )
        return headers

    def chosen(self) -> dict:
        """The filters in use, for the EXPORT event's detail: no names, so a patient search is given as the ids
        it found (a name typed into the search box would otherwise land in the audit trail)."""
        cleaned = {name: value for name, value in self.form.cleaned_data.items() if value not in (None, "", [])}
        chosen = {name: value.isoformat() if isinstance(value, date) else value for name, value in cleaned.items()}
        if "patient" in chosen:
            chosen["patient"] = sorted(matching_patients(cleaned["patient"]).values_list("pk", flat=True)[:50])
        return chosen
