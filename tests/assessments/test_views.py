from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError
from django.urls import reverse
from django.utils import timezone

from assessments.models import DN4_ITEMS, Assessment, ContributingNerve, Nerve, PainArea
from patients.models import Condition, Medication
from tests.factories import AssessmentFactory, CourseFactory, PatientFactory


def _management(prefix: str, total: int) -> dict:
    return {
        f"{prefix}-TOTAL_FORMS": str(total),
        f"{prefix}-INITIAL_FORMS": "0",
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "30",
    }


def assessment_post(**overrides) -> dict:
    """A complete first assessment as the browser posts it: two body-map regions and one nerve."""
    data = {
        "assessed_at": timezone.localtime(timezone.now() - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M"),
        "presenting_complaint": "Burning pain over the outer thigh.",
        "condition": str(Condition.objects.get(code="low-back-pain").pk),
        "side": "left",
        "duration_months": "18",
        "aggravating_factors": "Sitting",
        "nrs_current": "6",
        "nrs_worst": "9",
        "nrs_average": "7",
        "peg_pain": "7",
        "peg_enjoyment": "5",
        "peg_activity": "6",
        "dn4_burning": "on",
        "dn4_tingling": "on",
        "dn4_numbness": "on",
        "dn4_brushing_allodynia": "on",
        "proposed_sessions": "6",
        "proposed_interval_days": "7",
        "plan_notes": "",
        "map-B-LOW-BACK-L-selected": "on",
        "map-B-LOW-BACK-L-intensity": "8",
        "map-B-LOW-BACK-L-tender": "on",
        "map-F-THIGH-L-selected": "on",
        "map-F-THIGH-L-intensity": "5",
        **_management("nerves", 1),
        "nerves-0-nerve": str(Nerve.objects.get(code="superior-cluneal-nerves").pk),
        "nerves-0-side": "left",
        **_management("activities", 1),
        "activities-0-activity": "Walking the dog",
        "activities-0-score": "4",
        **_management("analgesics", 0),
    }
    data.update(overrides)
    return data


@pytest.fixture
def patient_record(db):
    return PatientFactory(given_name="Ruth", family_name="Adeyemi")


def _new_url(patient) -> str:
    return reverse("assessments:new", kwargs={"patient_pk": patient.pk})


def test_clinician_records_an_assessment_with_body_map_nerves_and_activities(clinician_client, patient_record):
    response = clinician_client.post(_new_url(patient_record), assessment_post())
    assessment = Assessment.objects.get(patient=patient_record)
    assert response.status_code == 302
    assert response.url == reverse("assessments:detail", kwargs={"pk": assessment.pk})
    areas = {(a.region, a.intensity, a.tender) for a in PainArea.objects.filter(assessment=assessment)}
    assert areas == {("B-LOW-BACK-L", 8, True), ("F-THIGH-L", 5, False)}
    assert ContributingNerve.objects.get(assessment=assessment).nerve.code == "superior-cluneal-nerves"
    assert assessment.dn4_score == 4 and assessment.dn4_positive
    page = clinician_client.get(response.url).content.decode()
    assert str(assessment.peg_score) in page  # (7 + 5 + 6) / 3
    assert "Walking the dog: 4/10" in page


def test_scores_are_computed_not_typed(clinician_client, patient_record):
    clinician_client.post(_new_url(patient_record), assessment_post(peg_score="10", dn4_score="0"))
    assessment = Assessment.objects.get(patient=patient_record)
    assert str(assessment.peg_score) == "6.0"
    assert assessment.dn4_score == 4


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"nrs_current": "11"}, "nrs_current", "less than or equal to 10"),
        ({"peg_activity": "-1"}, "peg_activity", "greater than or equal to 0"),
        ({"nrs_worst": ""}, "nrs_worst", "required"),
        ({"assessed_at": "2099-05-01T09:00"}, "assessed_at", "future"),
        ({"proposed_sessions": "40"}, "proposed_sessions", "Between 1 and 20"),
        ({"proposed_interval_days": "0"}, "proposed_interval_days", "Between 1 and 90"),
        ({"presenting_complaint": "x" * 2001}, "presenting_complaint", "at most 2000"),
    ],
)
def test_bad_assessment_input_is_refused_next_to_the_field(clinician_client, patient_record, overrides, field, message):
    response = clinician_client.post(_new_url(patient_record), assessment_post(**overrides))
    assert response.status_code == 200
    assert message in " ".join(response.context["form"].errors[field])
    assert not Assessment.objects.exists()


def test_a_marked_region_needs_an_intensity(clinician_client, patient_record):
    response = clinician_client.post(_new_url(patient_record), assessment_post(**{"map-F-THIGH-L-intensity": ""}))
    assert response.status_code == 200
    assert "Give an intensity from 0 to 10" in response.content.decode()
    assert not Assessment.objects.exists()


def test_a_psfs_activity_score_out_of_range_saves_nothing(clinician_client, patient_record):
    response = clinician_client.post(_new_url(patient_record), assessment_post(**{"activities-0-score": "12"}))
    assert response.status_code == 200
    assert response.context["activities"].forms[0].errors["score"]
    assert not Assessment.objects.exists() and not PainArea.objects.exists()


def test_pain_medication_from_the_intake_is_offered(clinician_client, patient_record):
    Medication.objects.create(
        intake=patient_record.intake, drug="Codeine", dose="30 mg", doses_per_week=21, is_analgesic=True
    )
    page = clinician_client.get(_new_url(patient_record)).content.decode()
    assert 'value="Codeine"' in page


def test_a_review_belongs_to_its_course_and_asks_for_pgic(clinician_client, clinician):
    course = CourseFactory(created_by=clinician)
    url = _new_url(course.patient) + f"?course={course.pk}"
    refused = clinician_client.post(url, assessment_post(course=str(course.pk)))
    assert "required" in " ".join(refused.context["form"].errors["pgic"])
    clinician_client.post(url, assessment_post(course=str(course.pk), pgic="2"))
    review = Assessment.objects.get(course=course)
    assert (review.kind, review.pgic) == ("review", 2)


def test_a_review_of_another_patients_course_is_404(clinician_client, clinician, patient_record):
    other_course = CourseFactory(created_by=clinician)
    url = _new_url(patient_record) + f"?course={other_course.pk}"
    assert clinician_client.get(url).status_code == 404


def test_starting_a_course_uses_the_first_assessment_as_baseline(clinician_client, clinician, patient_record):
    baseline = AssessmentFactory(patient=patient_record, proposed_sessions=4, proposed_interval_days=14)
    form_page = clinician_client.get(reverse("treatments:course_new", kwargs={"patient_pk": patient_record.pk}))
    assert form_page.context["form"].initial["planned_sessions"] == 4
    clinician_client.post(
        reverse("treatments:course_new", kwargs={"patient_pk": patient_record.pk}),
        {
            "condition": str(baseline.condition_id),
            "planned_sessions": "4",
            "interval_days": "14",
            "started_on": timezone.localdate().isoformat(),
        },
    )
    course = patient_record.courses.get()
    baseline.refresh_from_db()
    assert course.baseline_assessment == baseline and baseline.course == course


@pytest.mark.parametrize(
    ("present", "reading", "badge"),
    [(3, "neuropathic pain unlikely", "text-bg-secondary"), (4, "neuropathic pain likely", "text-bg-warning")],
)
def test_the_dn4_score_shows_its_reading_below_and_above_the_cut_off(
    clinician_client, patient_record, present, reading, badge
):
    items = {field: index < present for index, (field, _) in enumerate(DN4_ITEMS)}
    assessment = AssessmentFactory(patient=patient_record, **items)
    body = clinician_client.get(reverse("assessments:detail", kwargs={"pk": assessment.pk})).content.decode()
    shown = body.split('id="dn4-score"')[1].split("</dd>")[0]
    assert f"{present}/10" in shown and f'<span class="badge {badge}">{reading}</span>' in shown


def test_assessment_page_runs_a_fixed_number_of_queries(
    clinician_client, django_assert_max_num_queries, patient_record
):
    def queries_for(areas: int) -> int:
        assessment = AssessmentFactory(patient=patient_record)
        for code in ["F-HEAD", "F-NECK", "B-SACRUM", "F-KNEE-L", "F-KNEE-R", "B-CALF-L"][:areas]:
            PainArea.objects.create(assessment=assessment, region=code, intensity=3)
        with django_assert_max_num_queries(12) as captured:
            clinician_client.get(reverse("assessments:detail", kwargs={"pk": assessment.pk}))
        return len(captured.captured_queries)

    assert queries_for(1) == queries_for(6)


def test_average_pain_is_asked_once_and_counts_for_the_peg_too(clinician_client, patient_record):
    page = clinician_client.get(_new_url(patient_record)).content.decode()
    assert page.count("Average pain, last week") == 1
    assert 'name="peg_pain"' not in page
    data = assessment_post(nrs_average="4")
    del data["peg_pain"]
    assert clinician_client.post(_new_url(patient_record), data).status_code == 302
    assessment = Assessment.objects.get(patient=patient_record)
    assert (assessment.nrs_average, assessment.peg_pain) == (4, 4)
    assert assessment.peg_score == Decimal("5.0")  # (4 + 5 + 6) / 3


def test_a_peg_average_that_differs_from_the_nrs_average_is_refused_by_the_database(patient_record):
    with pytest.raises(IntegrityError):
        AssessmentFactory(patient=patient_record, nrs_average=4, peg_pain=7)


def test_an_assessment_before_the_patient_was_born_is_refused(clinician_client, patient_record):
    data = assessment_post(assessed_at=f"{patient_record.date_of_birth - timedelta(days=1):%Y-%m-%d}T10:00")
    response = clinician_client.post(_new_url(patient_record), data)
    assert response.status_code == 200
    assert "before the patient was born" in " ".join(response.context["form"].errors["assessed_at"])
    assert not Assessment.objects.exists()


def test_a_review_before_its_course_started_is_refused(clinician_client, patient_record):
    course = CourseFactory(patient=patient_record)
    url = f"{_new_url(patient_record)}?course={course.pk}"
    before = assessment_post(assessed_at=f"{course.started_on - timedelta(days=1):%Y-%m-%d}T10:00", pgic="3")
    response = clinician_client.post(url, before)
    assert "before the course started" in " ".join(response.context["form"].errors["assessed_at"])
    assert not Assessment.objects.exists()
