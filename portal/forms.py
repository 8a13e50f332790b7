"""Forms the patient fills in: accepting an invitation, the pre-visit check-in, contact details, cancelling."""

from crispy_forms.helper import FormHelper
from crispy_forms.layout import Column, Layout, Row
from django import forms
from django.contrib.auth.forms import UserCreationForm

from accounts.models import User
from patients.forms import PatientForm
from portal.models import CheckIn, PatientInvite
from portal.services import CONTACT_FIELDS, PATIENT_CANCEL_PREFIX
from scheduling.models import Appointment

SCALE_CHOICES = [(score, str(score)) for score in range(11)]
SCALE_MESSAGE = "Choose a number from 0 to 10."
YES_NO = [(True, "Yes"), (False, "No")]
CANCEL_REASON_MAX = (Appointment._meta.get_field("cancel_reason").max_length or 0) - len(PATIENT_CANCEL_PREFIX)


class InviteAcceptForm(UserCreationForm):
    """Username and password (twice), checked by the project's password validators."""

    # django-stubs leaves UserCreationForm.Meta undeclared; Django defines it.
    class Meta(UserCreationForm.Meta):  # type: ignore[name-defined]
        model = User
        fields = ("username",)

    def __init__(self, *args, invite: PatientInvite, **kwargs):
        super().__init__(*args, **kwargs)
        # The similarity validator compares the password with these, so a patient cannot use their own name.
        patient = invite.patient
        self.instance.first_name, self.instance.last_name = patient.given_name, patient.family_name
        self.instance.email = invite.email
        self.fields["username"].label = "Choose a username"
        self.fields["username"].help_text = "You will use it to sign in. Letters, digits and @ . + - _ only."
        self.fields["password1"].label = "Choose a password"
        self.fields["password1"].help_text = (
            "At least 10 characters, not only digits, and not your name or a common password. "
            "Three or four unrelated words make a strong password that is easy to remember."
        )
        self.fields["password2"].label = "Type the password again"
        self.fields["password2"].help_text = ""


class ScaleField(forms.IntegerField):
    anchors: tuple[str, str]  # read by portal/_scale_field.html under the 0 and the 10


def _scale(label: str, low: str, high: str) -> ScaleField:
    field = ScaleField(
        label=label,
        min_value=0,
        max_value=10,
        widget=forms.RadioSelect(choices=SCALE_CHOICES),
        error_messages=dict.fromkeys(("required", "invalid", "min_value", "max_value"), SCALE_MESSAGE),
    )
    field.anchors = (low, high)
    return field


def _yes(value: str) -> bool:
    return value == "True"


def _yes_no(label: str) -> forms.TypedChoiceField:
    return forms.TypedChoiceField(
        label=label,
        choices=YES_NO,
        coerce=_yes,
        widget=forms.RadioSelect,
        error_messages={"required": "Please answer yes or no."},
    )


class CheckInForm(forms.ModelForm):
    """Pain now, the PEG-3 items, pain medication, new problems: what the clinician reads before the session."""

    nrs_now = _scale("How bad is your pain right now?", "No pain", "Worst pain you can imagine")
    peg_pain = _scale("What number best describes your pain on average in the past week?", "No pain", "Worst pain")
    peg_enjoyment = _scale(
        "In the past week, how much has pain interfered with your enjoyment of life?", "Not at all", "Completely"
    )
    peg_activity = _scale(
        "In the past week, how much has pain interfered with your general activity?", "Not at all", "Completely"
    )
    analgesic_doses_per_week = forms.DecimalField(
        label="How many doses of pain medication did you take in the past week?",
        help_text="Count each time you took a pain tablet, liquid or patch. Enter 0 if none.",
        min_value=0,
        max_value=100,
        max_digits=5,
        decimal_places=1,
        widget=forms.NumberInput(attrs={"step": "0.5", "min": "0", "max": "100", "inputmode": "decimal"}),
        error_messages={
            "required": "Enter a number of doses (0 if none).",
            "min_value": "Enter a number from 0 to 100.",
            "max_value": "Enter a number from 0 to 100. If you took more, tell us in the box below.",
        },
    )
    new_infection = _yes_no("Do you have an infection, wound or rash near the area we treat?")
    new_medication = _yes_no("Have you started any new medication since your last visit?")
    new_blood_thinner = _yes_no(
        "Have you started a blood thinner, such as warfarin, apixaban, rivaroxaban, dabigatran or clopidogrel?"
    )
    new_allergy = _yes_no("Have you found out since your last visit that you are allergic to something?")
    pregnant = _yes_no("Are you pregnant, or breastfeeding?")

    class Meta:
        model = CheckIn
        fields = [
            "nrs_now",
            "peg_pain",
            "peg_enjoyment",
            "peg_activity",
            "analgesic_doses_per_week",
            "new_infection",
            "new_medication",
            "new_medication_details",
            "new_blood_thinner",
            "new_allergy",
            "new_allergy_details",
            "pregnant",
            "new_problems",
        ]
        labels = {
            "new_medication_details": "If so, which medication, and how much?",
            "new_allergy_details": "If so, what are you allergic to, and what happened?",
            "new_problems": "Anything else you would like your clinician to know?",
        }
        help_texts = {"new_problems": "For example a fall, a new diagnosis, or a question for the visit."}
        widgets = {"new_problems": forms.Textarea(attrs={"rows": 4})}

    scale_fields = ("nrs_now", "peg_pain", "peg_enjoyment", "peg_activity")
    yes_no_fields = ("new_infection", "new_medication", "new_blood_thinner", "new_allergy", "pregnant")
    # A "yes" the clinician needs to act on, and the answer that says what it is.
    details_for = {"new_medication": "new_medication_details", "new_allergy": "new_allergy_details"}

    def clean_new_problems(self) -> str:
        return self.cleaned_data["new_problems"].strip()

    def clean(self):
        cleaned = super().clean()
        for question, details in self.details_for.items():
            cleaned[details] = cleaned.get(details, "").strip()
            if cleaned.get(question) and not cleaned[details]:
                self.add_error(details, "Please tell us what it is.")
            elif cleaned.get(question) is False:
                cleaned[details] = ""
        return cleaned


class ContactDetailsForm(PatientForm):
    """The contact part of the patient record, with the same checks the front desk's form makes."""

    class Meta(PatientForm.Meta):
        fields = list(CONTACT_FIELDS)
        labels = {"address_line1": "Address", "preferred_contact": "How should we contact you?"}

    def __init__(self, *args, **kwargs):
        # PatientForm.__init__ lays out fields this form leaves out, so start from ModelForm's; clean() is reused.
        forms.ModelForm.__init__(self, *args, **kwargs)
        self.fields["phone"].widget.attrs["autocomplete"] = "tel"
        self.fields["email"].widget.attrs["autocomplete"] = "email"
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.layout = Layout(
            Row(Column("phone", css_class="col-md-6"), Column("email", css_class="col-md-6")),
            "address_line1",
            "address_line2",
            Row(Column("town", css_class="col-md-8"), Column("postcode", css_class="col-md-4")),
            "preferred_contact",
        )

    def clean_email(self) -> str:
        # Never refused for being another account's address: that answer would tell anyone who has an account
        # (contact_details_update keeps the sign-in's address then).
        return self.cleaned_data["email"].strip()


class CancelForm(forms.Form):
    reason = forms.CharField(
        label="Why are you cancelling?",
        help_text="A short answer is fine. It helps us offer the time to someone else.",
        max_length=CANCEL_REASON_MAX,
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"required": "Please tell us briefly why you are cancelling."},
    )


def _name_words(name: str) -> str:
    return " ".join(name.casefold().split())


class ConsentSignForm(forms.Form):
    """The patient's own signature: their full name as the clinic has it (case and spaces aside), and a tick."""

    signed_name = forms.CharField(
        label="Type your full name to sign",
        max_length=201,
        error_messages={"required": "Type your full name to sign."},
    )
    agree = forms.BooleanField(
        label="I have read and agree",
        error_messages={"required": "Tick “I have read and agree” to sign."},
    )

    def __init__(self, *args, patient, **kwargs):
        super().__init__(*args, **kwargs)
        self.patient = patient
        self.fields["signed_name"].widget.attrs.update(autocomplete="name")
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.layout = Layout("signed_name", "agree")

    def clean_signed_name(self) -> str:
        typed = " ".join(self.cleaned_data["signed_name"].split())
        if _name_words(typed) != _name_words(self.patient.full_name):
            raise forms.ValidationError(
                f"The name must match the name on your record: {self.patient.full_name}. "
                "If that name is wrong, please tell the clinic."
            )
        return typed
