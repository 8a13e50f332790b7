"""The session form shows every precaution before the clinician chooses: the medical background's red and amber
ones from the first view, with the choices they rule out marked in the form, and what the patient reported at
check-in for today's visit. A new medication reported there is offered for the medical background."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from portal.models import CheckIn
from tests.factories import CourseFactory, consent_for
from tests.portal.helpers import make_appointment
from tests.treatments.test_session_views import session_post
from treatments.models import InjectionSession


@pytest.fixture
def course(db, clinician):
    course = CourseFactory(created_by=clinician)
    consent_for(course.patient)
    return course


def _flag(course, **flags) -> None:
    intake = course.patient.intake
    for field, value in flags.items():
        setattr(intake, field, value)
    intake.save()


def _checked_in_today(patient, **answers) -> CheckIn:
    appointment = make_appointment(patient, timezone.now() - timedelta(minutes=20))
    scores = {"nrs_now": 5, "peg_pain": 5, "peg_enjoyment": 5, "peg_activity": 5}
    return CheckIn.objects.create(
        appointment=appointment, patient=patient, analgesic_doses_per_week=Decimal("2"), **scores, **answers
    )


def _form_page(client, course):
    response = client.get(reverse("treatments:session_new", args=[course.pk]))
    assert response.status_code == 200
    return response.content.decode()


def _alerts(page: str, kind: str) -> list[str]:
    marker = f'data-alert="{kind}">'
    return [part.split("</div>")[0] for part in page.split(marker)[1:]]


def test_an_anaesthetic_allergy_is_red_at_the_top_and_marks_lidocaine_before_it_is_chosen(clinician_client, course):
    _flag(course, allergy_amide_local_anaesthetic=True, anticoagulant_or_bleeding_disorder=True)
    page = _form_page(clinician_client, course)
    [allergy] = _alerts(page, "danger")
    assert "local anaesthetic" in allergy
    assert any("bruising" in warning for warning in _alerts(page, "warning"))
    # Both come before the form, and the lidocaine option says why it is ruled out.
    assert page.index(allergy) < page.index('id="session-form"')
    assert '<option value="lidocaine">Lidocaine (allergy: not for this patient)</option>' in page


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        ({"infection_or_open_wound": True, "infection_details": "ulcer on left shin"}, "ulcer on left shin"),
        ({"allergy_corn_dextrose": True}, "corn"),
        ({"pregnant_or_breastfeeding": True}, "Pregnant"),
        ({"diabetes": True}, "this note gives 0.00 g of dextrose"),
    ],
)
def test_every_precaution_of_the_medical_background_shows_on_the_first_view(clinician_client, course, flags, words):
    _flag(course, **flags)
    page = _form_page(clinician_client, course)
    shown = " ".join(_alerts(page, "blocking") + _alerts(page, "danger") + _alerts(page, "warning"))
    assert words in shown


@pytest.mark.parametrize(
    ("answers", "kind", "words"),
    [
        ({"new_infection": True}, "blocking", "infection"),
        ({"new_blood_thinner": True, "new_medication": True, "new_medication_details": "Apixaban"}, "warning",
         "blood thinner"),
        ({"pregnant": True}, "warning", "pregnant"),
        ({"new_allergy": True, "new_allergy_details": "Penicillin"}, "danger", "Penicillin"),
    ],
)  # fmt: skip
def test_what_the_patient_reports_at_check_in_raises_the_matching_precaution(
    clinician_client, course, answers, kind, words
):
    assert not _alerts(_form_page(clinician_client, course), kind)
    _checked_in_today(course.patient, **answers)
    [alert] = _alerts(_form_page(clinician_client, course), kind)
    assert words in alert and "check-in" in alert


def test_an_infection_reported_at_check_in_needs_a_reason_to_go_ahead(clinician_client, course):
    _checked_in_today(course.patient, new_infection=True)
    url = reverse("treatments:session_new", args=[course.pk])
    refused = clinician_client.post(url, session_post())
    assert "red alert" in " ".join(refused.context["form"].errors["alert_override_reason"])
    assert not InjectionSession.objects.exists()
    clinician_client.post(url, session_post(alert_override_reason="Rash is on the other arm; treated the left."))
    assert InjectionSession.objects.count() == 1


def test_a_new_allergy_reported_at_check_in_needs_a_reason_for_lidocaine(clinician_client, course):
    _checked_in_today(course.patient, new_allergy=True, new_allergy_details="something at the dentist")
    url = reverse("treatments:session_new", args=[course.pk])
    page = _form_page(clinician_client, course)
    assert '<option value="lidocaine">Lidocaine (allergy: not for this patient)</option>' in page
    refused = clinician_client.post(url, session_post(additive="lidocaine", additive_percent="0.1"))
    assert "alert_override_reason" in refused.context["form"].errors
    clinician_client.post(url, session_post())  # no lidocaine: nothing to override
    assert InjectionSession.objects.count() == 1


def test_a_new_medication_is_offered_for_the_medical_background(clinician_client, course):
    check_in = _checked_in_today(course.patient, new_medication=True, new_medication_details="Apixaban 5 mg")
    page = _form_page(clinician_client, course)
    offer = reverse("patients:intake", args=[course.patient.pk]) + f"?check_in={check_in.pk}"
    assert f'href="{offer}"' in page
    form = clinician_client.get(offer).content.decode()
    assert 'name="medications-0-drug"' in form and 'value="Apixaban 5 mg"' in form
    # Another patient's check-in is not taken.
    other = _checked_in_today(CourseFactory().patient, new_medication=True, new_medication_details="Warfarin")
    stranger = reverse("patients:intake", args=[course.patient.pk]) + f"?check_in={other.pk}"
    assert "Warfarin" not in clinician_client.get(stranger).content.decode()


def test_the_session_form_with_a_check_in_runs_no_more_queries(clinician_client, course, django_assert_max_num_queries):
    _checked_in_today(course.patient, new_infection=True, new_blood_thinner=True, pregnant=True)
    url = reverse("treatments:session_new", args=[course.pk])
    clinician_client.get(url)  # warm the process before counting
    # 11 since the form shows the dextrose given: one aggregate over the patient's signed notes (treatments.doses).
    with django_assert_max_num_queries(11):
        clinician_client.get(url)
