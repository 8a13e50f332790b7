"""Consent in the portal: the patient signs the current consent text themselves, and may withdraw it; the desk may
withdraw it too. Every withdrawal stops new session notes at once and tells the clinic."""

from datetime import timedelta

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from accounts.models import Role
from audit.models import Action, AuditEvent
from patients.models import ConsentGiven, ConsentText, PatientConsent
from patients.services import consent_withdraw
from pit_portal.outbox.models import EmailKind
from portal.services import consent_withdrawal_send
from tests.factories import CourseFactory, PatientFactory, SessionFactory, UserFactory, consent_for
from tests.history.helpers import context_of, events_of
from tests.outbox.helpers import owed, record_sends
from tests.treatments.test_session_views import session_post
from treatments.models import InjectionSession
from treatments.services import session_sign

SIGN = reverse("portal:consent")
CONFIRM = reverse("portal:consent_withdraw_confirm")
WITHDRAW = reverse("portal:consent_withdraw")


@pytest.fixture
def enqueued(monkeypatch) -> list[int]:
    return record_sends(monkeypatch)


@pytest.fixture
def text() -> ConsentText:
    current = ConsentText.objects.current()
    assert current is not None
    return current


def consents(patient) -> list[PatientConsent]:
    return list(PatientConsent.objects.filter(patient=patient).order_by("pk"))


def events(action: Action) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("pk"))


def page_messages(response) -> str:
    return " ".join(str(message) for message in response.context["messages"])


# --- Signing -------------------------------------------------------------------------------------------------


def test_the_page_shows_the_current_text_to_sign(patient_client, patient, text):
    response = patient_client.get(SIGN)
    body = response.content.decode()
    assert response.status_code == 200
    assert text.title in body and f"Version {text.version}" in body
    assert 'id="consent-form"' in body and "I have read and agree" in body


def test_a_name_that_is_not_the_one_on_the_record_is_refused(patient_client, patient):
    response = patient_client.post(SIGN, {"signed_name": "Charlie Smith", "agree": "on"})
    assert response.status_code == 400
    assert "The name must match the name on your record: Charlie Day." in response.content.decode()
    assert consents(patient) == []


def test_a_name_with_a_word_missing_is_refused(patient_client, patient):
    response = patient_client.post(SIGN, {"signed_name": "Charlie", "agree": "on"})
    assert response.status_code == 400
    assert consents(patient) == []


def test_without_the_tick_nothing_is_signed(patient_client, patient):
    response = patient_client.post(SIGN, {"signed_name": "Charlie Day"})
    assert response.status_code == 400
    assert "Tick “I have read and agree” to sign." in response.content.decode()
    assert consents(patient) == []


def test_signing_records_the_patients_own_consent_at_the_servers_time(patient_client, patient, patient_user, text):
    before = timezone.now()
    # Case and spaces aside, the name is the one on the record.
    response = patient_client.post(SIGN, {"signed_name": "  charlie   DAY ", "agree": "on"})
    after = timezone.now()
    assert response.status_code == 302 and response["Location"] == SIGN
    [consent] = consents(patient)
    assert (consent.consent_text, consent.signed_name) == (text, "charlie DAY")
    assert (consent.signed_via, consent.signed_by_user, consent.witnessed_by) == ("portal", patient_user, None)
    assert before <= consent.signed_at <= after and consent.withdrawn_at is None
    [event] = events(Action.CONSENT_SIGNED)
    assert (event.actor, event.patient_id, event.object_id) == (patient_user, patient.pk, str(consent.pk))
    assert event.detail == {"consent_text_version": text.version, "via": "portal"}
    page = patient_client.get(SIGN).content.decode()
    assert f"You consented to version {text.version}" in page and 'id="consent-form"' not in page


def test_signing_again_while_the_consent_is_valid_saves_nothing(patient_client, patient, text):
    consent_for(patient)
    response = patient_client.post(SIGN, {"signed_name": "Charlie Day", "agree": "on"}, follow=True)
    assert f"You have already consented to version {text.version}. Nothing was changed." in page_messages(response)
    assert len(consents(patient)) == 1
    assert events(Action.CONSENT_SIGNED) == []


# --- Withdrawing ---------------------------------------------------------------------------------------------


def test_withdrawing_asks_first_and_only_a_post_withdraws(patient_client, patient):
    consent = consent_for(patient)
    assert f'href="{CONFIRM}"' in patient_client.get(SIGN).content.decode()
    confirm = patient_client.get(CONFIRM)
    assert confirm.status_code == 200
    assert f'action="{WITHDRAW}"' in confirm.content.decode()
    assert patient_client.get(WITHDRAW).status_code == 405
    consent.refresh_from_db()
    assert consent.withdrawn_at is None


def test_nothing_to_confirm_without_a_valid_consent(patient_client, patient):
    response = patient_client.get(CONFIRM, follow=True)
    assert response.redirect_chain == [(SIGN, 302)]
    assert "You have no consent on file to withdraw." in page_messages(response)


def test_the_patient_withdraws_and_new_session_notes_are_refused_at_once(
    patient_client, patient, patient_user, clinician, clinician_client, text, enqueued,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    course = CourseFactory(patient=patient, created_by=clinician)
    consent = consent_for(patient)
    with django_capture_on_commit_callbacks(execute=True):
        response = patient_client.post(WITHDRAW, follow=True)
    assert "Your consent is withdrawn." in page_messages(response)
    consent.refresh_from_db()
    assert consent.withdrawn_at is not None and consent.withdrawn_via == "portal"
    assert owed(enqueued) == [(EmailKind.CONSENT_WITHDRAWN, consent.pk)]
    [event] = events(Action.CONSENT_WITHDRAWN)
    assert (event.actor, event.patient_id, event.object_id) == (patient_user, patient.pk, str(consent.pk))
    assert event.detail == {"consent_text_version": text.version, "via": "portal"}
    # The patient's own sign-in is named in the change history of the row.
    [update] = events_of(consent, "update")
    assert context_of(update)["user"] == patient_user.pk

    new_session = reverse("treatments:session_new", args=[course.pk])
    refused = clinician_client.post(new_session, session_post())
    assert refused.status_code == 200
    assert "no valid consent" in " ".join(refused.context["form"].non_field_errors())
    assert not InjectionSession.objects.filter(course=course).exists()
    day = f"{timezone.localtime(consent.withdrawn_at):%d/%m/%Y}"
    warning = f"Consent withdrawn by the patient on {day}."
    assert warning in clinician_client.get(new_session).content.decode()
    assert warning in clinician_client.get(reverse("patients:detail", args=[patient.pk])).content.decode()


def test_withdrawing_twice_changes_nothing(patient_client, patient, enqueued, django_capture_on_commit_callbacks):
    consent = consent_for(patient)
    with django_capture_on_commit_callbacks(execute=True):
        patient_client.post(WITHDRAW)
    consent.refresh_from_db()
    first = consent.withdrawn_at
    with django_capture_on_commit_callbacks(execute=True):
        again = patient_client.post(WITHDRAW, follow=True)
    assert "You have no consent on file to withdraw. Nothing was changed." in page_messages(again)
    consent.refresh_from_db()
    assert consent.withdrawn_at == first
    assert len(owed(enqueued)) == 1 and len(events(Action.CONSENT_WITHDRAWN)) == 1


def test_signing_again_after_withdrawing_makes_a_new_consent(patient_client, patient):
    old = consent_for(patient)
    patient_client.post(WITHDRAW)
    patient_client.post(SIGN, {"signed_name": "Charlie Day", "agree": "on"})
    first, second = consents(patient)
    assert first.pk == old.pk and first.withdrawn_at is not None
    assert second.withdrawn_at is None and second.signed_via == "portal"


def test_no_email_is_owed_without_a_clinic_address(patient_client, patient, settings, enqueued):
    settings.CLINIC_EMAIL = ""
    consent_for(patient)
    patient_client.post(WITHDRAW)
    assert owed(enqueued) == []


def test_the_clinics_email_names_the_clinic_number_but_not_the_patient(patient_client, patient):
    consent = consent_for(patient)
    patient_client.post(WITHDRAW)
    assert consent_withdrawal_send(consent.pk) is True
    [message] = mail.outbox
    assert message.to == ["desk@harbour.example"]
    assert patient.clinic_number in message.subject and patient.clinic_number in message.body
    assert "by the patient through the patient portal" in message.body
    assert f"https://portal.example.org/patients/{patient.pk}/" in message.body
    assert patient.family_name not in message.subject + message.body


def test_no_email_for_a_consent_that_is_valid_again(patient):
    assert consent_withdrawal_send(consent_for(patient).pk) is False
    assert mail.outbox == []


# --- The desk withdraws --------------------------------------------------------------------------------------


def test_the_desk_withdraws_with_a_reason_and_the_clinician_is_told(
    front_desk_client, front_desk, clinician_client, patient, text, enqueued, django_capture_on_commit_callbacks
):
    consent = consent_for(patient)
    page = front_desk_client.get(reverse("patients:consent", args=[patient.pk])).content.decode()
    assert "Withdraw consent" in page
    url = reverse("patients:consent_withdraw", args=[patient.pk])
    with django_capture_on_commit_callbacks(execute=True):
        response = front_desk_client.post(url, {"reason": "Phoned:  moving  abroad"})
    assert response.status_code == 302
    consent.refresh_from_db()
    assert (consent.withdrawn_via, consent.withdrawal_reason) == ("desk", "Phoned: moving abroad")
    assert owed(enqueued) == [(EmailKind.CONSENT_WITHDRAWN, consent.pk)]
    [event] = events(Action.CONSENT_WITHDRAWN)
    assert (event.actor, event.detail) == (front_desk, {"consent_text_version": text.version, "via": "desk"})
    [update] = events_of(consent, "update")
    assert context_of(update)["user"] == front_desk.pk
    detail = clinician_client.get(reverse("patients:detail", args=[patient.pk])).content.decode()
    assert f"Consent withdrawn at the clinic on {timezone.localtime(consent.withdrawn_at):%d/%m/%Y}." in detail


def test_the_desk_withdrawing_twice_changes_nothing(front_desk_client, patient):
    consent = consent_for(patient)
    url = reverse("patients:consent_withdraw", args=[patient.pk])
    front_desk_client.post(url)
    consent.refresh_from_db()
    again = front_desk_client.post(url, follow=True)
    assert "There is no valid consent to withdraw. Nothing was changed." in page_messages(again)
    assert PatientConsent.objects.get(pk=consent.pk).withdrawn_at == consent.withdrawn_at


def test_the_desk_withdraws_only_by_post(front_desk_client, patient):
    consent_for(patient)
    assert front_desk_client.get(reverse("patients:consent_withdraw", args=[patient.pk])).status_code == 405


def test_a_desk_consent_recorded_on_the_staff_page_is_audited(front_desk_client, front_desk, patient, text):
    front_desk_client.post(
        reverse("patients:consent", args=[patient.pk]), {"has_read": "on", "signed_name": "Charlie Day"}
    )
    [consent] = consents(patient)
    assert (consent.signed_via, consent.witnessed_by, consent.signed_by_user) == ("desk", front_desk, None)
    [event] = events(Action.CONSENT_SIGNED)
    assert event.detail == {"consent_text_version": text.version, "via": "desk"}


# --- Who may ------------------------------------------------------------------------------------------------


def test_another_patient_withdraws_only_their_own(client, patient):
    consent = consent_for(patient)
    other = PatientFactory(given_name="Dana", family_name="Whitfield", user=UserFactory(role=Role.PATIENT))
    client.force_login(other.user)
    page = client.get(SIGN).content.decode()
    assert "You consented" not in page and 'id="consent-form"' in page
    client.post(WITHDRAW)
    consent.refresh_from_db()
    assert consent.withdrawn_at is None


@pytest.mark.parametrize("role", ["clinician", "front_desk", "manager", "outsider"])
def test_staff_cannot_withdraw_through_the_portal(request, role, patient):
    consent = consent_for(patient)
    client = request.getfixturevalue(f"{role}_client")
    assert client.post(WITHDRAW).status_code == 403
    assert client.get(SIGN).status_code == 403
    consent.refresh_from_db()
    assert consent.withdrawn_at is None


def test_a_patient_cannot_withdraw_at_the_desk(patient_client, patient):
    consent = consent_for(patient)
    response = patient_client.post(reverse("patients:consent_withdraw", args=[patient.pk]))
    assert response.status_code == 403
    consent.refresh_from_db()
    assert consent.withdrawn_at is None


def test_a_draft_of_treatment_after_the_withdrawal_cannot_be_signed_but_one_before_it_can(patient, clinician):
    course = CourseFactory(patient=patient, created_by=clinician)
    before = SessionFactory(course=course, sites=1, performed_at=timezone.now() - timedelta(hours=2))
    after = SessionFactory(course=course, sites=1, performed_at=timezone.now() + timedelta(minutes=5))
    consent_withdraw(patient=patient, via=ConsentGiven.DESK)
    with pytest.raises(ValidationError, match="withdrew consent"):
        session_sign(session=after, by=clinician)
    assert session_sign(session=before, by=clinician).is_signed
    after.refresh_from_db()
    assert not after.is_signed
