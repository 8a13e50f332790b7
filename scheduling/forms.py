"""Forms for the front desk's diary. They check what a form can (a real time, not in the past,
an offered type); working hours and double booking are the services' and the database's job."""

from datetime import date, timedelta

from crispy_forms.helper import FormHelper
from crispy_forms.layout import HTML, Column, Layout, Row
from django import forms
from django.utils import timezone

from accounts.models import User
from patients.models import Patient, check_not_before_birth
from scheduling.models import AppointmentType
from scheduling.services import clinicians
from treatments.models import CourseStatus, TreatmentCourse

DATETIME_LOCAL = "%Y-%m-%dT%H:%M"
MAX_SEARCH_DAYS = 60
DEFAULT_SEARCH_DAYS = 14
# Right under the form's errors: the nearest free times after a refusal, or the clash warning.
NOTICES = HTML('{% include "scheduling/booking_notices.html" %}')


class ClinicianChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, user: User) -> str:
        return user.get_full_name() or user.username


class CourseChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, course: TreatmentCourse) -> str:
        return f"{course.condition}, started {course.started_on:%d/%m/%Y}"


def _form_helper(*layout) -> FormHelper:
    helper = FormHelper()
    helper.form_tag = False  # templates own the <form> so they can add buttons and notices
    helper.layout = Layout(*layout)
    return helper


class _TimeChoiceForm(forms.Form):
    """What booking and moving share: a clinician, a future start time, the manager's override."""

    clinician = ClinicianChoiceField(
        queryset=User.objects.none(),
        empty_label="Choose a clinician",
        error_messages={"invalid_choice": "Choose one of the clinicians in the list."},
    )
    starts_at = forms.DateTimeField(
        label="Date and time",
        # Five-minute steps: the services look for free slots on the same grid.
        widget=forms.DateTimeInput(format=DATETIME_LOCAL, attrs={"type": "datetime-local", "step": 300}),
        input_formats=[DATETIME_LOCAL],
        error_messages={"invalid": "Enter a date and time, e.g. 2026-05-12 10:30."},
    )
    outside_hours_reason = forms.CharField(
        label="Reason for booking outside working hours",
        max_length=300,
        required=False,
        help_text="Only needed when the time is outside the clinician's working hours.",
    )
    # Set by the "Book anyway" button once the patient's other appointment has been seen.
    confirm_clash = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, user: User, **kwargs):
        super().__init__(*args, **kwargs)
        clinician = self.fields["clinician"]
        assert isinstance(clinician, forms.ModelChoiceField)
        clinician.queryset = clinicians()
        if not user.has_perm("scheduling.override_working_hours"):
            del self.fields["outside_hours_reason"]

    def clean_starts_at(self):
        starts_at = self.cleaned_data["starts_at"]
        if starts_at <= timezone.now():
            raise forms.ValidationError("That time has already passed: choose a time from now on.", code="past")
        return starts_at


class BookingForm(_TimeChoiceForm):
    patient = forms.ModelChoiceField(
        queryset=Patient.objects.all(),
        widget=forms.HiddenInput,
        error_messages={
            "required": "Choose the patient first.",
            "invalid_choice": "That patient is not on file: search for them again.",
        },
    )
    appointment_type = forms.ModelChoiceField(
        label="Appointment type",
        queryset=AppointmentType.objects.filter(active=True),
        empty_label="Choose a type",
        error_messages={"invalid_choice": "That appointment type is no longer offered: choose another."},
    )
    course = CourseChoiceField(
        label="Treatment course",
        queryset=TreatmentCourse.objects.none(),
        required=False,
        empty_label="None",
        error_messages={"invalid_choice": "Choose one of this patient's active courses, or none."},
    )
    notes = forms.CharField(max_length=500, required=False, widget=forms.Textarea(attrs={"rows": 2}))

    field_order = ["patient", "clinician", "appointment_type", "starts_at", "course", "notes"]

    def __init__(self, *args, user: User, **kwargs):
        super().__init__(*args, user=user, **kwargs)
        if user.has_perm("treatments.view_treatmentcourse"):
            course = self.fields["course"]
            assert isinstance(course, forms.ModelChoiceField)
            course.queryset = self._courses()
        else:
            del self.fields["course"]
        self.helper = _form_helper(
            NOTICES,
            "patient",
            Row(Column("clinician"), Column("appointment_type")),
            Row(Column("starts_at"), Column("course") if "course" in self.fields else Column()),
            "notes",
            *(["outside_hours_reason"] if "outside_hours_reason" in self.fields else []),
            "confirm_clash",
        )

    def clean(self):
        cleaned = super().clean()
        patient, starts_at = cleaned.get("patient"), cleaned.get("starts_at")
        if patient is not None and starts_at is not None:
            try:
                check_not_before_birth(patient, timezone.localdate(starts_at))
            except forms.ValidationError as error:
                self.add_error("starts_at", error)
        return cleaned

    def _courses(self):
        """Only the chosen patient's active courses: a booking never links to someone else's."""
        patient_id = str(self.data.get("patient") if self.is_bound else self.initial.get("patient") or "")
        if not patient_id.isdigit():
            return TreatmentCourse.objects.none()
        courses = TreatmentCourse.objects.filter(patient_id=int(patient_id), status=CourseStatus.ACTIVE)
        return courses.select_related("condition")


class MoveForm(_TimeChoiceForm):
    def __init__(self, *args, user: User, **kwargs):
        super().__init__(*args, user=user, **kwargs)
        self.fields["starts_at"].label = "New date and time"
        self.helper = _form_helper(
            NOTICES,
            Row(Column("starts_at"), Column("clinician")),
            *(["outside_hours_reason"] if "outside_hours_reason" in self.fields else []),
            "confirm_clash",
        )


class CancelForm(forms.Form):
    reason = forms.CharField(
        label="Reason for cancelling",
        max_length=300,
        widget=forms.Textarea(attrs={"rows": 2}),
        error_messages={"required": "Give the reason for cancelling."},
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = _form_helper("reason")

    def clean_reason(self) -> str:
        reason = " ".join(self.cleaned_data["reason"].split())
        if not reason:
            raise forms.ValidationError("Give the reason for cancelling.")
        return reason


class SlotSearchForm(forms.Form):
    appointment_type = forms.ModelChoiceField(
        label="Appointment type",
        queryset=AppointmentType.objects.filter(active=True),
        empty_label="Choose a type",
        error_messages={"invalid_choice": "That appointment type is no longer offered: choose another."},
    )
    clinician = ClinicianChoiceField(queryset=User.objects.none(), required=False, empty_label="Any clinician")
    date_from = forms.DateField(label="From", widget=forms.DateInput(format="%Y-%m-%d", attrs={"type": "date"}))
    date_to = forms.DateField(label="To (inclusive)", widget=forms.DateInput(format="%Y-%m-%d", attrs={"type": "date"}))
    patient = forms.IntegerField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        clinician = self.fields["clinician"]
        assert isinstance(clinician, forms.ModelChoiceField)
        clinician.queryset = clinicians()
        self.helper = _form_helper(
            Row(Column("appointment_type"), Column("clinician"), Column("date_from"), Column("date_to")), "patient"
        )
        # A search sent by GET: crispy adds a CSRF token only to POST forms, and one here would land in the URL.
        self.helper.form_method = "get"

    @staticmethod
    def defaults() -> dict:
        today = timezone.localdate()
        return {"date_from": today, "date_to": today + timedelta(days=DEFAULT_SEARCH_DAYS - 1)}

    def clean(self):
        cleaned = super().clean()
        first, last = cleaned.get("date_from"), cleaned.get("date_to")
        if isinstance(first, date) and isinstance(last, date):
            if last < first:
                self.add_error("date_to", "The end date is before the start date.")
            elif (last - first).days + 1 > MAX_SEARCH_DAYS:
                self.add_error("date_to", f"Search at most {MAX_SEARCH_DAYS} days at a time.")
            elif last < timezone.localdate():
                self.add_error("date_to", "Those dates have passed: search from today on.")
        return cleaned
