import re
from datetime import date

from crispy_forms.helper import FormHelper
from crispy_forms.layout import HTML, Column, Fieldset, Layout, Row
from django import forms
from django.core.validators import MaxValueValidator, MinValueValidator
from django.utils import timezone
from django.utils.functional import cached_property

from patients.data_requests import CARRY_OUT_LABELS, Decision
from patients.models import (
    EARLIEST_BIRTH_DATE,
    EARLIEST_REQUEST_DATE,
    NOTE_MAX,
    Condition,
    DataRequest,
    DataRequestKind,
    Intake,
    Medication,
    Patient,
)

PHONE_FIELDS = ("phone", "emergency_contact_phone", "gp_phone")
CLINIC_NUMBER_PATTERN = re.compile(r"^[A-Z0-9][A-Z0-9-]{0,19}$")
OTHER_CONDITION_CODE = "other"


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, **kwargs):
        super().__init__(format="%Y-%m-%d", **kwargs)


# A day after this is a typing mistake; the bound also keeps "the day after" inside what datetime can hold.
LATEST_DAY = date(2999, 12, 31)


def record_day_field(label: str, **options) -> forms.DateField:
    """An optional day of the clinic's records, for a period's start or end: none is before 1900 (no record of a
    living patient is older) or after LATEST_DAY."""
    return forms.DateField(
        label=label,
        required=False,
        widget=DateInput(),
        validators=[
            MinValueValidator(EARLIEST_BIRTH_DATE, message=f"Pick a date in {EARLIEST_BIRTH_DATE.year} or later."),
            MaxValueValidator(LATEST_DAY, message="Pick a date before the year 3000."),
        ],
        **options,
    )


def check_date_order(start: date | None, end: date | None) -> None:
    """Refuse a period whose "from" day is after its "to" day (a form's clean() calls it)."""
    if start and end and start > end:
        raise forms.ValidationError("The “from” date must be on or before the “to” date.", code="date_order")


def _form_helper(*layout) -> FormHelper:
    helper = FormHelper()
    helper.form_tag = False  # templates own the <form> so they can add buttons and notices
    helper.layout = Layout(*layout)
    return helper


class PatientForm(forms.ModelForm):
    """Demographics and contacts; used to register a patient and to edit them."""

    class Meta:
        model = Patient
        fields = [
            "given_name",
            "family_name",
            "preferred_name",
            "date_of_birth",
            "sex",
            "clinic_number",
            "phone",
            "email",
            "address_line1",
            "address_line2",
            "town",
            "postcode",
            "preferred_contact",
            "emergency_contact_name",
            "emergency_contact_relationship",
            "emergency_contact_phone",
            "gp_name",
            "gp_practice",
            "gp_phone",
            "gp_email",
        ]
        widgets = {"date_of_birth": DateInput()}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["clinic_number"].required = False
        self.fields["date_of_birth"].widget.attrs["max"] = timezone.localdate().isoformat()

    @cached_property
    def helper(self) -> FormHelper:
        """The layout, built when the form is rendered: a form only validated (an import validates thousands of
        rows with it) needs none."""
        return _form_helper(
            Fieldset(
                "Patient",
                Row(Column("given_name"), Column("family_name"), Column("preferred_name")),
                Row(Column("date_of_birth"), Column("sex"), Column("clinic_number")),
            ),
            Fieldset(
                "Contact",
                Row(Column("phone"), Column("email"), Column("preferred_contact")),
                Row(Column("address_line1"), Column("address_line2")),
                Row(Column("town"), Column("postcode")),
            ),
            Fieldset(
                "Emergency contact",
                Row(
                    Column("emergency_contact_name"),
                    Column("emergency_contact_relationship"),
                    Column("emergency_contact_phone"),
                ),
            ),
            Fieldset(
                "GP / referrer",
                Row(Column("gp_name"), Column("gp_practice")),
                Row(Column("gp_phone"), Column("gp_email")),
            ),
        )

    def clean_given_name(self) -> str:
        return " ".join(self.cleaned_data["given_name"].split())

    def clean_family_name(self) -> str:
        return " ".join(self.cleaned_data["family_name"].split())

    def clean_date_of_birth(self):
        born = self.cleaned_data["date_of_birth"]
        if born > timezone.localdate():
            raise forms.ValidationError("Date of birth cannot be in the future.")
        if born < EARLIEST_BIRTH_DATE:
            raise forms.ValidationError(f"Date of birth must be on or after {EARLIEST_BIRTH_DATE:%d/%m/%Y}.")
        return born

    def clean_clinic_number(self) -> str:
        number = self.cleaned_data["clinic_number"].strip().upper()
        if not number and self.instance.pk:
            return self.instance.clinic_number  # a registered patient always keeps a number
        if number and not CLINIC_NUMBER_PATTERN.match(number):
            raise forms.ValidationError("Use letters, digits and hyphens only (up to 20).")
        if number and Patient.objects.filter(clinic_number=number).exclude(pk=self.instance.pk).exists():
            raise forms.ValidationError("Another patient already has this clinic number.")
        return number

    def clean(self):
        cleaned = super().clean()
        for field in PHONE_FIELDS:
            # phonenumbers reads letters as keypad digits (vanity numbers); here they are typos.
            if re.search(r"[A-Za-z]", self.data.get(self.add_prefix(field), "")) and field not in self.errors:
                self.add_error(field, "Use digits only (spaces, +, - and brackets are fine).")
        contact = cleaned.get("preferred_contact")
        needs = {"email": "email", "sms": "phone", "phone": "phone"}.get(contact)
        if needs and needs in cleaned and not cleaned.get(needs):
            self.add_error(needs, f"Needed for the preferred contact method ({contact}).")
        return cleaned


class RegisterPatientForm(PatientForm):
    """Registration adds one question: shown only when likely duplicates were found."""

    not_a_duplicate = forms.BooleanField(
        required=False,
        label="I have checked the records above: this is a different person.",
        widget=forms.HiddenInput,
    )


class IntakeForm(forms.ModelForm):
    class Meta:
        model = Intake
        fields = [
            "conditions",
            "other_condition",
            "allergy_amide_local_anaesthetic",
            "allergy_corn_dextrose",
            "other_allergies",
            "anticoagulant_or_bleeding_disorder",
            "diabetes",
            "pregnant_or_breastfeeding",
            "infection_or_open_wound",
            "infection_details",
            "notes",
        ]
        widgets = {
            "conditions": forms.CheckboxSelectMultiple,
            "notes": forms.Textarea(attrs={"rows": 3}),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["conditions"].queryset = Condition.objects.filter(active=True)
        self.helper = _form_helper(
            Fieldset("Conditions", "conditions", "other_condition"),
            Fieldset(
                "Precautions",
                HTML('<p class="text-body-secondary small">These flags raise alerts when a session is recorded.</p>'),
                "allergy_amide_local_anaesthetic",
                "allergy_corn_dextrose",
                "other_allergies",
                "anticoagulant_or_bleeding_disorder",
                "diabetes",
                "pregnant_or_breastfeeding",
                "infection_or_open_wound",
                "infection_details",
            ),
            Fieldset("Notes", "notes"),
        )

    def clean(self):
        cleaned = super().clean()
        conditions = cleaned.get("conditions") or []
        if any(c.code == OTHER_CONDITION_CODE for c in conditions) and not cleaned.get("other_condition", "").strip():
            self.add_error("other_condition", "Name the condition when you tick “Other”.")
        if cleaned.get("infection_or_open_wound") and not cleaned.get("infection_details", "").strip():
            self.add_error("infection_details", "Say where the infection or wound is.")
        return cleaned


class MedicationForm(forms.ModelForm):
    class Meta:
        model = Medication
        fields = ["drug", "dose", "doses_per_week", "is_analgesic"]
        widgets = {"doses_per_week": forms.NumberInput(attrs={"step": "0.5", "min": "0", "max": "100"})}

    def clean_doses_per_week(self):
        doses = self.cleaned_data["doses_per_week"]
        if doses is not None and not 0 <= doses <= 100:
            raise forms.ValidationError("Between 0 and 100 doses a week.")
        return doses


MedicationFormSet = forms.inlineformset_factory(
    Intake, Medication, form=MedicationForm, extra=2, max_num=30, validate_max=True, can_delete=True
)


class ConsentForm(forms.Form):
    has_read = forms.BooleanField(
        label="The patient has read the text above, asked any questions and agrees to treatment."
    )
    signed_name = forms.CharField(
        label="Patient's full name, typed by the patient as signature",
        max_length=201,
    )

    def __init__(self, *args, patient: Patient, **kwargs):
        super().__init__(*args, **kwargs)
        self.patient = patient
        self.helper = _form_helper("has_read", "signed_name")

    def clean_signed_name(self) -> str:
        typed = " ".join(self.cleaned_data["signed_name"].split())
        # Every word of the registered name must be there; middle names may be added.
        registered_words = set(self.patient.full_name.casefold().split())
        if not registered_words <= set(typed.casefold().split()):
            raise forms.ValidationError(f"Type the patient's full name as registered ({self.patient.full_name}).")
        return typed


class ConsentWithdrawForm(forms.Form):
    reason = forms.CharField(
        label="Reason (optional)",
        required=False,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Only if the patient gave one. The clinic's email does not include it.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = _form_helper("reason")


class PatientSearchForm(forms.Form):
    q = forms.CharField(
        label="Search",
        required=False,
        max_length=100,
        widget=forms.TextInput(
            attrs={"placeholder": "Name, date of birth, phone or clinic number", "autofocus": True, "type": "search"}
        ),
    )


class DataRequestForm(forms.ModelForm):
    """A request about the patient's data, as received."""

    class Meta:
        model = DataRequest
        fields = ["kind", "received_on", "received_via", "notes"]
        widgets = {"received_on": DateInput(), "notes": forms.Textarea(attrs={"rows": 3})}
        labels = {"kind": "The patient asks for", "received_on": "Received on", "received_via": "Received by"}
        help_texts = {"notes": "What the patient asked, in brief. Replaced if the patient is later anonymised."}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["received_on"].initial = timezone.localdate()
        self.helper = _form_helper("kind", Row(Column("received_on"), Column("received_via")), "notes")

    def clean_received_on(self) -> date:
        received_on = self.cleaned_data["received_on"]
        if received_on > timezone.localdate():
            raise forms.ValidationError("A request cannot be received in the future: check the date.")
        if received_on < EARLIEST_REQUEST_DATE:
            raise forms.ValidationError(f"Pick a date in {EARLIEST_REQUEST_DATE.year} or later.")
        return received_on


class DataRequestDecideForm(forms.Form):
    """What was decided about an open request."""

    decision = forms.ChoiceField(label="Decision", widget=forms.RadioSelect)
    outcome = forms.CharField(
        label="Reason or note",
        required=False,
        max_length=NOTE_MAX,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Needed for a refusal or a withdrawal, in words the patient can be told.",
    )

    def __init__(self, *args, data_request: DataRequest, **kwargs):
        super().__init__(*args, **kwargs)
        decision = self.fields["decision"]
        assert isinstance(decision, forms.ChoiceField)
        decision.choices = [
            (Decision.CARRY_OUT, CARRY_OUT_LABELS[DataRequestKind(data_request.kind)]),
            (Decision.REFUSE, "Refuse"),
            (Decision.WITHDRAWN, "The patient withdrew it"),
        ]
        self.helper = _form_helper("decision", "outcome")

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("decision") in (Decision.REFUSE, Decision.WITHDRAWN) and not cleaned.get("outcome", "").strip():
            self.add_error("outcome", "Say why, in words the patient can be told.")
        return cleaned
