"""Recording consent to PIT: the signature, the witness and time, and the version consented to."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from patients import services
from patients.models import ConsentGiven, ConsentText, PatientConsent
from tests.factories import ConsentTextFactory, PatientFactory


@pytest.fixture
def url(patient) -> str:
    return reverse("patients:consent", kwargs={"pk": patient.pk})


@pytest.fixture
def detail_url(patient) -> str:
    return reverse("patients:detail", kwargs={"pk": patient.pk})


def assert_refused(response, field: str, message: str) -> None:
    assert response.status_code == 200 or 400 <= response.status_code < 500
    errors = response.context["form"].errors.get(field, [])
    matching = [error for error in errors if message in error]
    assert matching, f"no error containing {message!r} on {field}: {errors}"
    assert escape(matching[0]) in response.content.decode()


def consent_status(client, detail_url: str) -> str:
    """The consent card of the patient page."""
    page = client.get(detail_url).content.decode()
    start = page.index('id="consent-status"')
    return page[start : page.index("</section>", start)]


def test_consent_is_recorded_with_witness_time_and_version(clinician_client, clinician, patient, url, detail_url):
    before = timezone.now()
    response = clinician_client.post(url, {"has_read": "on", "signed_name": "  Charlie   Day "})
    after = timezone.now()
    assert response.status_code == 302
    assert response["Location"] == detail_url
    consent = PatientConsent.objects.get(patient=patient)
    assert consent.witnessed_by == clinician
    assert before <= consent.signed_at <= after
    assert consent.consent_text == ConsentText.objects.current()
    assert consent.signed_name == "Charlie Day"
    assert consent.withdrawn_at is None


def test_recorded_consent_is_shown_with_its_witness(clinician_client, patient, url, detail_url):
    clinician_client.post(url, {"has_read": "on", "signed_name": "Charlie Day"})
    status = consent_status(clinician_client, detail_url)
    assert "Valid consent" in status
    assert "Alice Carter" in status


@pytest.mark.parametrize("typed", ["charlie day", "Charlie James Day", "CHARLIE DAY"])
def test_signed_name_may_differ_in_case_and_add_a_middle_name(front_desk_client, patient, url, typed):
    response = front_desk_client.post(url, {"has_read": "on", "signed_name": typed})
    assert response.status_code == 302
    assert PatientConsent.objects.filter(patient=patient).count() == 1


@pytest.mark.parametrize("typed", ["Charlie Dey", "Charlie", "Day", "Dana Whitfield", "C. Day"])
def test_signed_name_not_matching_the_patient_is_refused(front_desk_client, patient, url, typed):
    response = front_desk_client.post(url, {"has_read": "on", "signed_name": typed})
    assert_refused(response, "signed_name", "Type the patient's full name as registered (Charlie Day)")
    assert not PatientConsent.objects.exists()


@pytest.mark.parametrize("typed", ["", "   "])
def test_missing_signature_is_refused(front_desk_client, patient, url, typed):
    response = front_desk_client.post(url, {"has_read": "on", "signed_name": typed})
    assert_refused(response, "signed_name", "This field is required")
    assert not PatientConsent.objects.exists()


def test_over_long_signature_is_refused(front_desk_client, patient, url):
    response = front_desk_client.post(url, {"has_read": "on", "signed_name": "Charlie " + "x" * 200 + " Day"})
    assert_refused(response, "signed_name", "at most 201 characters")
    assert not PatientConsent.objects.exists()


def test_consent_without_confirming_the_text_was_read_is_refused(front_desk_client, patient, url):
    response = front_desk_client.post(url, {"signed_name": "Charlie Day"})
    assert_refused(response, "has_read", "This field is required")
    assert not PatientConsent.objects.exists()


def test_valid_consent_is_shown_with_a_way_to_withdraw_it_not_signed_twice(
    front_desk_client, front_desk, patient, url, detail_url
):
    services.consent_record(
        patient=patient, consent_text=ConsentText.objects.current(), signed_name="Charlie Day", by=front_desk
    )
    page = front_desk_client.get(url).content.decode()
    assert 'id="valid-consent"' in page and "Record consent</button>" not in page
    assert f'action="{reverse("patients:consent_withdraw", args=[patient.pk])}"' in page
    again = front_desk_client.post(url, {"has_read": "on", "signed_name": "Charlie Day"}, follow=True)
    assert "already consented to the current version" in again.content.decode()
    assert PatientConsent.objects.filter(patient=patient).count() == 1


def test_newly_published_version_makes_existing_consent_invalid(
    front_desk_client, front_desk, patient, detail_url, url
):
    services.consent_record(
        patient=patient, consent_text=ConsentText.objects.current(), signed_name="Charlie Day", by=front_desk
    )
    assert "Valid consent" in consent_status(front_desk_client, detail_url)
    newer = ConsentTextFactory()
    status = consent_status(front_desk_client, detail_url)
    assert "No valid consent" in status
    assert f"Consent to version {newer.version} is needed" in status
    asked_again = front_desk_client.get(url)
    assert asked_again.status_code == 200
    assert asked_again.context["consent_text"] == newer


def test_consent_to_the_new_version_is_valid_again(front_desk_client, front_desk, patient, detail_url, url):
    services.consent_record(
        patient=patient, consent_text=ConsentText.objects.current(), signed_name="Charlie Day", by=front_desk
    )
    newer = ConsentTextFactory()
    front_desk_client.post(url, {"has_read": "on", "signed_name": "Charlie Day"})
    assert services.valid_consent(patient).consent_text == newer
    assert "Valid consent" in consent_status(front_desk_client, detail_url)


def test_draft_version_leaves_existing_consent_valid(front_desk_client, front_desk, patient, detail_url):
    services.consent_record(
        patient=patient, consent_text=ConsentText.objects.current(), signed_name="Charlie Day", by=front_desk
    )
    ConsentTextFactory(published_at=None)
    assert "Valid consent" in consent_status(front_desk_client, detail_url)


def test_withdrawn_consent_is_not_valid(front_desk_client, front_desk, patient, detail_url):
    consent = services.consent_record(
        patient=patient, consent_text=ConsentText.objects.current(), signed_name="Charlie Day", by=front_desk
    )
    services.consent_withdraw(patient=consent.patient, via=ConsentGiven.DESK)
    assert "No valid consent" in consent_status(front_desk_client, detail_url)


def test_patient_list_shows_consent_needed_after_a_new_version(front_desk_client, front_desk, patient):
    services.consent_record(
        patient=patient, consent_text=ConsentText.objects.current(), signed_name="Charlie Day", by=front_desk
    )
    listing = front_desk_client.get(reverse("patients:list"), {"q": "Charlie Day"})
    assert [p.has_valid_consent for p in listing.context["page"].object_list] == [True]
    ConsentTextFactory(published_at=timezone.now() - timedelta(minutes=1))
    listing = front_desk_client.get(reverse("patients:list"), {"q": "Charlie Day"})
    assert [p.has_valid_consent for p in listing.context["page"].object_list] == [False]


def test_consent_without_a_published_text_shows_a_clear_message(front_desk_client, patient, url, detail_url):
    ConsentText.objects.update(published_at=None)
    response = front_desk_client.get(url)
    assert response.status_code == 302
    assert response["Location"] == detail_url
    page = front_desk_client.get(detail_url).content.decode()
    assert "No consent text is published yet" in page


def test_posting_consent_without_a_published_text_records_nothing(front_desk_client, patient, url):
    ConsentText.objects.update(published_at=None)
    response = front_desk_client.post(url, {"has_read": "on", "signed_name": "Charlie Day"}, follow=True)
    assert "No consent text is published yet" in response.content.decode()
    assert not PatientConsent.objects.exists()


def test_consent_page_shows_the_current_text_escaped(front_desk_client, patient, url):
    text = ConsentTextFactory(body='Risks <script>alert("x")</script> & benefits.')
    page = front_desk_client.get(url).content.decode()
    assert escape(text.body) in page
    assert text.body not in page


def test_markup_in_the_patients_name_is_escaped_in_the_refusal(front_desk_client):
    marked_up = PatientFactory(given_name='<script>alert("x")</script>', family_name="Day")
    url = reverse("patients:consent", kwargs={"pk": marked_up.pk})
    response = front_desk_client.post(url, {"has_read": "on", "signed_name": "Someone Else"})
    page = response.content.decode()
    assert response.context["form"].errors["signed_name"]
    assert escape(marked_up.given_name) in page
    assert marked_up.given_name not in page
