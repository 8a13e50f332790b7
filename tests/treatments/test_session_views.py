from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from assessments.models import Nerve
from tests.factories import CourseFactory, SessionFactory, consent_for
from treatments.models import InjectionSession, InjectionSite


def _local(moment) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M")


def session_post(**overrides) -> dict:
    """A valid session form as the browser sends it, with one site row."""
    nerve = Nerve.objects.order_by("id").first()
    data = {
        "performed_at": _local(timezone.now() - timedelta(minutes=30)),
        "consent_confirmed": "on",
        "pre_nrs": "7",
        "post_nrs": "2",
        "dextrose_percent": "5",
        "diluent": "water",
        "additive": "none",
        "additive_percent": "",
        "lot_number": "DX-1",
        "lot_expiry": (timezone.localdate() + timedelta(days=200)).isoformat(),
        "technique": "subcutaneous",
        "needle_gauge": "27G",
        "aftercare_given": "on",
        "next_interval_days": "7",
        "notes": "",
        "alert_override_reason": "",
        "sites-TOTAL_FORMS": "1",
        "sites-INITIAL_FORMS": "0",
        "sites-MIN_NUM_FORMS": "0",
        "sites-MAX_NUM_FORMS": "30",
        "sites-0-nerve": str(nerve.pk),
        "sites-0-side": "left",
        "sites-0-points": "6",
        "sites-0-volume_per_point_ml": "0.5",
        "events-TOTAL_FORMS": "1",
        "events-INITIAL_FORMS": "0",
        "events-MIN_NUM_FORMS": "0",
        "events-MAX_NUM_FORMS": "10",
        "events-0-kind": "",
        "events-0-severity": "",
        "events-0-note": "",
    }
    data.update(overrides)
    return data


@pytest.fixture
def course(db, clinician):
    course = CourseFactory(created_by=clinician)
    consent_for(course.patient)
    return course


def test_clinician_records_a_draft_with_sites_and_derived_volume(clinician_client, course):
    response = clinician_client.post(reverse("treatments:session_new", args=[course.pk]), session_post())
    session = InjectionSession.objects.get(course=course)
    assert response.status_code == 302
    assert response.url == reverse("treatments:session", args=[session.pk])
    assert (session.number, session.pre_nrs, session.post_nrs, session.is_signed) == (1, 7, 2, False)
    assert str(session.immediate_change) == "71% better"  # (7 - 2) / 7
    assert session.total_volume_ml == Decimal("3.00")
    page = clinician_client.get(response.url)
    assert "3.00 mL" in page.content.decode()


@pytest.mark.parametrize(
    ("before", "after", "direction", "text"),
    [("4", "6", "worse", "50% worse"), ("8", "4", "better", "50% better"), ("5", "5", "same", "no change")],
)
def test_the_session_page_says_which_way_pain_went(clinician_client, course, before, after, direction, text):
    new_session = reverse("treatments:session_new", args=[course.pk])
    clinician_client.post(new_session, session_post(pre_nrs=before, post_nrs=after))
    session = InjectionSession.objects.get(course=course)
    body = clinician_client.get(reverse("treatments:session", args=[session.pk])).content.decode()
    shown = body.split('id="nrs"')[1].split("</dd>")[0]
    assert f"{before} → {after}" in shown
    assert f'data-direction="{direction}"' in shown and f">{text}</span>" in shown
    assert "relief" not in shown


def test_session_numbers_follow_on_within_the_course(clinician_client, course):
    for _ in range(2):
        clinician_client.post(reverse("treatments:session_new", args=[course.pk]), session_post())
    assert list(course.sessions.values_list("number", flat=True)) == [1, 2]


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"pre_nrs": "11"}, "pre_nrs", "less than or equal to 10"),
        ({"pre_nrs": "-1"}, "pre_nrs", "greater than or equal to 0"),
        ({"pre_nrs": "", "post_nrs": "3"}, "post_nrs", "before the injection first"),
        ({"dextrose_percent": "30"}, "dextrose_percent", "at most 25%"),
        ({"dextrose_percent": "0"}, "dextrose_percent", "more than 0%"),
        ({"additive": "lidocaine", "additive_percent": ""}, "additive_percent", "lidocaine strength"),
        ({"additive": "lidocaine", "additive_percent": "2"}, "additive_percent", "at most 1%"),
        ({"additive": "none", "additive_percent": "0.1"}, "additive_percent", "no additive"),
        ({"lot_expiry": "2020-01-01"}, "lot_expiry", "expired on 01/01/2020"),
        ({"performed_at": "2099-01-01T10:00"}, "performed_at", "future"),
        ({"performed_at": "2024-02-30T10:00"}, "performed_at", "valid date"),
        ({"next_interval_days": "0"}, "next_interval_days", "Between 1 and 90 days"),
        ({"consent_confirmed": ""}, "consent_confirmed", "required"),
    ],
)
def test_bad_session_input_is_refused_next_to_the_field(clinician_client, course, overrides, field, message):
    response = clinician_client.post(reverse("treatments:session_new", args=[course.pk]), session_post(**overrides))
    assert response.status_code == 200
    errors = " ".join(response.context["form"].errors.get(field, []))
    assert message in errors
    assert not InjectionSession.objects.exists()


@pytest.mark.parametrize(
    ("moment", "message"),
    [
        (lambda course: "1900-01-01T10:00", "before the patient was born"),
        (lambda course: f"{course.started_on - timedelta(days=1):%Y-%m-%d}T10:00", "before the course started"),
        (lambda course: _local(timezone.now() + timedelta(days=2)), "future"),
    ],
    ids=["1900", "before the course", "in two days"],
)
def test_a_session_dated_before_the_patient_or_the_course_or_in_the_future_is_refused(
    clinician_client, course, moment, message
):
    url = reverse("treatments:session_new", args=[course.pk])
    response = clinician_client.post(url, session_post(performed_at=moment(course)))
    assert message in " ".join(response.context["form"].errors["performed_at"])
    assert not InjectionSession.objects.exists()
    # On the first day of the course the session is saved.
    clinician_client.post(url, session_post(performed_at=f"{course.started_on:%Y-%m-%d}T10:00"))
    assert InjectionSession.objects.count() == 1


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"sites-0-nerve": ""}, "nerve", "Choose the nerve"),
        ({"sites-0-points": "0"}, "points", "Between 1 and 40"),
        ({"sites-0-volume_per_point_ml": "0"}, "volume_per_point_ml", "More than 0"),
        ({"sites-0-volume_per_point_ml": "2.5"}, "volume_per_point_ml", "at most 2.0 mL"),
    ],
)
def test_bad_site_rows_are_refused_and_nothing_is_saved(clinician_client, course, overrides, field, message):
    response = clinician_client.post(reverse("treatments:session_new", args=[course.pk]), session_post(**overrides))
    assert response.status_code == 200
    assert message in " ".join(response.context["sites"].forms[0].errors.get(field, []))
    assert not InjectionSession.objects.exists()
    assert not InjectionSite.objects.exists()


def test_a_nerve_retired_since_the_form_was_opened_is_refused(clinician_client, course):
    data = session_post()
    Nerve.objects.filter(pk=data["sites-0-nerve"]).update(active=False)
    response = clinician_client.post(reverse("treatments:session_new", args=[course.pk]), data)
    assert response.status_code == 200
    assert "Select a valid choice" in " ".join(response.context["sites"].forms[0].errors["nerve"])
    assert not InjectionSession.objects.exists()


def test_the_site_select_shows_the_nerves_as_they_are_now(clinician_client, course):
    url = reverse("treatments:session_new", args=[course.pk])
    nerve = Nerve.objects.order_by("id").first()
    assert f">{nerve.name}</option>" in clinician_client.get(url).content.decode()
    Nerve.objects.filter(pk=nerve.pk).update(name="Renamed branch")
    retired = Nerve.objects.exclude(pk=nerve.pk).order_by("id").first()
    Nerve.objects.filter(pk=retired.pk).update(active=False)
    body = clinician_client.get(url).content.decode()
    assert ">Renamed branch</option>" in body and f">{nerve.name}</option>" not in body
    assert f'value="{retired.pk}"' not in body


def test_a_session_needs_valid_consent_on_file(clinician_client, clinician):
    course = CourseFactory(created_by=clinician)  # no consent recorded for this patient
    response = clinician_client.post(reverse("treatments:session_new", args=[course.pk]), session_post())
    assert response.status_code == 200
    assert "no valid consent" in " ".join(response.context["form"].non_field_errors())
    assert not InjectionSession.objects.exists()


def test_lidocaine_for_an_allergic_patient_needs_an_override_reason_which_is_recorded(clinician_client, course):
    course.patient.intake.allergy_amide_local_anaesthetic = True
    course.patient.intake.save()
    url = reverse("treatments:session_new", args=[course.pk])
    lidocaine = {"additive": "lidocaine", "additive_percent": "0.1"}

    refused = clinician_client.post(url, session_post(**lidocaine))
    assert "red alert" in " ".join(refused.context["form"].errors["alert_override_reason"])
    assert not InjectionSession.objects.exists()

    reason = "Patch test negative last week; allergist letter on file."
    clinician_client.post(url, session_post(**lidocaine, alert_override_reason=reason))
    assert InjectionSession.objects.get().alert_override_reason == reason


def test_warnings_are_shown_but_do_not_block(clinician_client, course):
    course.patient.intake.anticoagulant_or_bleeding_disorder = True
    course.patient.intake.save()
    page = clinician_client.get(reverse("treatments:session_new", args=[course.pk]))
    assert b'data-alert="warning"' in page.content
    clinician_client.post(reverse("treatments:session_new", args=[course.pk]), session_post())
    assert InjectionSession.objects.count() == 1


def test_signed_session_cannot_be_edited_through_the_form(clinician_client, clinician):
    session = SessionFactory(sites=1, clinician=clinician)
    clinician_client.post(reverse("treatments:session_sign", args=[session.pk]))
    edit_url = reverse("treatments:session_edit", args=[session.pk])
    assert clinician_client.get(edit_url).status_code == 409
    response = clinician_client.post(edit_url, session_post(pre_nrs="1"))
    assert response.status_code == 409
    assert InjectionSession.objects.get(pk=session.pk).pre_nrs == session.pre_nrs


def test_second_signature_is_refused_with_a_message(clinician_client, clinician):
    session = SessionFactory(sites=1, clinician=clinician)
    sign_url = reverse("treatments:session_sign", args=[session.pk])
    assert clinician_client.post(sign_url).status_code == 302
    first = InjectionSession.objects.get(pk=session.pk)
    again = clinician_client.post(sign_url)
    assert again.status_code == 409
    assert "already signed" in again.content.decode()
    assert InjectionSession.objects.get(pk=session.pk).signed_at == first.signed_at


def test_addendum_is_shown_under_the_signed_note(clinician_client, clinician):
    session = SessionFactory(sites=1, clinician=clinician, notes="original words")
    clinician_client.post(reverse("treatments:session_sign", args=[session.pk]))
    clinician_client.post(reverse("treatments:session_addendum", args=[session.pk]), {"text": "<b>corrected</b> side"})
    page = clinician_client.get(reverse("treatments:session", args=[session.pk])).content.decode()
    assert "original words" in page
    assert "&lt;b&gt;corrected&lt;/b&gt; side" in page


def test_site_row_endpoint_returns_the_next_numbered_row(clinician_client):
    response = clinician_client.get(reverse("treatments:site_row"), {"sites-TOTAL_FORMS": "3"})
    body = response.content.decode()
    assert 'name="sites-3-nerve"' in body
    assert 'value="4"' in body and 'hx-swap-oob="true"' in body
    assert clinician_client.get(reverse("treatments:site_row"), {"sites-TOTAL_FORMS": "30"}).status_code == 400


def _queries_with(client, url: str, sessions: int, course, capture) -> int:
    existing = course.sessions.count()
    for number in range(existing + 1, sessions + 1):
        SessionFactory(course=course, number=number, sites=2)
    with capture() as queries:
        assert client.get(url).status_code == 200
    return len(queries.captured_queries)


# No clinical page needs more than this many queries, however long the record
# (the second-factor device and the audit trail's PATIENT_VIEWED / RECORD_VIEWED insert included);
# the same budget as the key pages' in tests/perf/test_query_budgets.py.
QUERY_BUDGET = 12


@pytest.mark.parametrize(
    "page",
    [
        lambda course: reverse("treatments:course", args=[course.pk]),
        lambda course: reverse("patients:detail", args=[course.patient.pk]),
        lambda course: reverse("treatments:session_new", args=[course.pk]),
        lambda course: reverse("treatments:session", args=[course.sessions.order_by("number").first().pk]),
    ],
    ids=["course page", "patient page", "session form", "session note"],
)
def test_clinical_pages_run_a_fixed_number_of_queries(clinician_client, clinician, django_assert_max_num_queries, page):
    course = CourseFactory(created_by=clinician, planned_sessions=20)
    SessionFactory(course=course, number=1, sites=2)
    url = page(course)
    with_three = _queries_with(clinician_client, url, 3, course, lambda: django_assert_max_num_queries(QUERY_BUDGET))
    with_sixty = _queries_with(clinician_client, url, 60, course, lambda: django_assert_max_num_queries(QUERY_BUDGET))
    assert with_three == with_sixty
