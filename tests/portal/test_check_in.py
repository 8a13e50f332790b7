"""The pre-visit check-in: validated answers, editable until the visit, shown to the clinician on the session form."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from portal.forms import CheckInForm
from portal.models import CheckIn
from portal.queries import check_in_for_session_form
from portal.services import check_in_submit
from scheduling.models import AppointmentStatus
from tests.portal.helpers import in_days, make_appointment

ANSWERS = {
    "nrs_now": "6",
    "peg_pain": "7",
    "peg_enjoyment": "5",
    "peg_activity": "6",
    "analgesic_doses_per_week": "10.5",
    "new_infection": "False",
    "new_medication": "True",
    "new_medication_details": "Amitriptyline 10 mg",
    "new_blood_thinner": "False",
    "new_allergy": "False",
    "new_allergy_details": "",
    "pregnant": "False",
    "new_problems": "Started amitriptyline 10 mg at night.",
}


def check_in_url(appointment) -> str:
    return reverse("portal:check_in", kwargs={"pk": appointment.pk})


@pytest.fixture
def tomorrows(patient):
    return make_appointment(patient, in_days(1))


def test_check_in_is_saved_and_reaches_the_session_form(patient_client, patient, tomorrows):
    assert patient_client.get(check_in_url(tomorrows)).status_code == 200
    response = patient_client.post(check_in_url(tomorrows), ANSWERS)
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:home")
    check_in = CheckIn.objects.get()
    assert (check_in.patient, check_in.appointment) == (patient, tomorrows)
    assert (check_in.nrs_now, check_in.peg_score) == (6, Decimal("6.0"))
    assert check_in.analgesic_doses_per_week == Decimal("10.5")
    assert (check_in.new_infection, check_in.new_medication) == (False, True)
    assert check_in.new_medication_details == "Amitriptyline 10 mg"
    # On the day of the visit, the clinician's session form gets it.
    assert check_in_for_session_form(patient, now=tomorrows.starts_at + timedelta(minutes=5)) == check_in


def test_answers_can_be_changed_until_the_visit_without_a_second_row(patient_client, tomorrows):
    patient_client.post(check_in_url(tomorrows), ANSWERS)
    first_sent = CheckIn.objects.get().submitted_at
    page = patient_client.get(check_in_url(tomorrows)).content.decode()
    assert 'value="6" checked' in page  # the earlier answers are shown again
    patient_client.post(check_in_url(tomorrows), {**ANSWERS, "nrs_now": "2"})
    [(nrs_now, sent)] = CheckIn.objects.values_list("nrs_now", "submitted_at")
    assert nrs_now == 2
    assert sent > first_sent


def test_a_second_first_check_in_updates_the_row_the_first_made(patient, tomorrows):
    """A double-click: both requests built their form before either saved."""
    forms = [CheckInForm({**ANSWERS, "nrs_now": score}, instance=CheckIn(appointment=tomorrows)) for score in "34"]
    for form in forms:
        assert form.is_valid()
        check_in_submit(appointment=tomorrows, patient=patient, answers=form.cleaned_data, by=patient.user)
    assert list(CheckIn.objects.values_list("nrs_now", flat=True)) == [4]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("nrs_now", "11", "Choose a number from 0 to 10."),
        ("peg_pain", "-1", "Choose a number from 0 to 10."),
        ("peg_activity", "seven", "Choose a number from 0 to 10."),
        ("peg_enjoyment", "", "Choose a number from 0 to 10."),
        ("analgesic_doses_per_week", "101", "Enter a number from 0 to 100."),
        ("analgesic_doses_per_week", "-2", "Enter a number from 0 to 100."),
        ("new_infection", "", "Please answer yes or no."),
        ("pregnant", "", "Please answer yes or no."),
        ("new_blood_thinner", "maybe", "Select a valid choice"),
        ("new_medication_details", "  ", "Please tell us what it is."),
        ("new_problems", "x" * 1001, "Ensure this value has at most 1000 characters"),
    ],
)
def test_bad_answers_are_refused_with_a_message_and_nothing_saved(patient_client, tomorrows, field, value, message):
    response = patient_client.post(check_in_url(tomorrows), {**ANSWERS, field: value})
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not CheckIn.objects.exists()


@pytest.mark.parametrize("starts_in", [timedelta(days=8), timedelta(minutes=-5)])
def test_check_in_is_closed_more_than_a_week_ahead_and_once_the_visit_starts(patient_client, patient, starts_in):
    appointment = make_appointment(patient, timezone.now() + starts_in)
    assert patient_client.post(check_in_url(appointment), ANSWERS).status_code == 409
    assert not CheckIn.objects.exists()


def test_no_check_in_for_a_cancelled_appointment(patient_client, patient):
    appointment = make_appointment(patient, in_days(2), status=AppointmentStatus.CANCELLED)
    assert patient_client.post(check_in_url(appointment), ANSWERS).status_code == 409


def test_session_form_gets_only_the_latest_appointments_check_in(patient):
    earlier = make_appointment(patient, in_days(-7))
    CheckIn.objects.create(
        appointment=earlier, patient=patient, nrs_now=5, peg_pain=5, peg_enjoyment=5, peg_activity=5,
        analgesic_doses_per_week=Decimal("3"),
    )  # fmt: skip
    assert check_in_for_session_form(patient) == CheckIn.objects.get()
    make_appointment(patient, in_days(-1))  # a later visit without a check-in
    assert check_in_for_session_form(patient) is None
    make_appointment(patient, in_days(-0.5), status=AppointmentStatus.CANCELLED)  # ignored
    assert check_in_for_session_form(patient) is None


def test_session_form_summary_escapes_what_the_patient_typed(patient, tomorrows):
    check_in = CheckIn.objects.create(
        appointment=tomorrows, patient=patient, nrs_now=4, peg_pain=6, peg_enjoyment=5, peg_activity=5,
        analgesic_doses_per_week=Decimal("2.5"), new_infection=True, new_problems="<script>alert(1)</script>",
    )  # fmt: skip
    html = render_to_string("portal/_check_in_summary.html", {"check_in": check_in})
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "5.3/10" in html  # PEG-3 is the mean of its items
    assert 'data-alert="check-in-infection"' in html
    assert "not checked in" in render_to_string("portal/_check_in_summary.html", {"check_in": None})


def test_a_new_allergy_needs_saying_what_it_is_to(patient_client, tomorrows):
    refused = patient_client.post(check_in_url(tomorrows), {**ANSWERS, "new_allergy": "True"})
    assert refused.status_code == 400
    assert "Please tell us what it is." in refused.content.decode()
    answers = {**ANSWERS, "new_allergy": "True", "new_allergy_details": " Plasters: a rash "}
    assert patient_client.post(check_in_url(tomorrows), answers).status_code == 302
    assert CheckIn.objects.get().new_allergy_details == "Plasters: a rash"


def test_session_form_summary_shows_what_is_new_and_escapes_it(patient, tomorrows):
    check_in = CheckIn.objects.create(
        appointment=tomorrows, patient=patient, nrs_now=4, peg_pain=6, peg_enjoyment=5, peg_activity=5,
        analgesic_doses_per_week=Decimal("2.5"), new_medication=True, new_medication_details="<b>Warfarin</b>",
        new_blood_thinner=True, new_allergy=True, new_allergy_details="Latex", pregnant=True,
    )  # fmt: skip
    html = render_to_string("portal/_check_in_summary.html", {"check_in": check_in})
    assert "&lt;b&gt;Warfarin&lt;/b&gt;" in html and "Latex" in html
    assert html.count("<strong>Yes</strong>") == 4
