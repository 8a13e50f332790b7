"""Bad input and attacks: each is refused, and each refusal leaves its mark in the audit trail."""

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.core.management import CommandError, call_command
from django.db import ProgrammingError, connection, transaction
from django.test import Client
from django.urls import reverse

from audit.models import Action, AuditEvent
from audit.services import record
from tests.audit.helpers import bypass_append_only, comparable, events
from tests.documents.helpers import pending_document_for
from tests.factories import PASSWORD, CourseFactory, SessionFactory
from tests.portal.helpers import in_days, make_appointment, make_document

WRONG = "not-the-password"
ATTACKER = "198.51.100.66"


@pytest.fixture(autouse=True)
def private_storage(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path)}},
    }


def test_brute_forcing_a_password_is_stopped_and_recorded(client, clinician):
    answers = [
        client.post(reverse("login"), {"username": "alice", "password": WRONG}, REMOTE_ADDR=ATTACKER).status_code
        for _ in range(settings.AXES_FAILURE_LIMIT + 1)
    ]
    assert answers[: settings.AXES_FAILURE_LIMIT - 1] == [200] * (settings.AXES_FAILURE_LIMIT - 1)
    assert answers[-2:] == [429, 429]
    # Locked: even the right password is refused now.
    right = client.post(reverse("login"), {"username": "alice", "password": PASSWORD}, REMOTE_ADDR=ATTACKER)
    assert right.status_code == 429 and "_auth_user_id" not in client.session
    assert events(Action.LOCKED_OUT, actor_username="alice", ip_address=ATTACKER)
    assert len(events(Action.LOGIN_FAILED, ip_address=ATTACKER)) >= settings.AXES_FAILURE_LIMIT - 1


def test_a_session_cookie_replayed_after_sign_out_is_sent_to_sign_in(clinician):
    victim = Client()
    victim.force_login(clinician)
    stolen = victim.cookies[settings.SESSION_COOKIE_NAME].value
    assert victim.get(reverse("patients:list")).status_code == 200
    victim.post(reverse("logout"))
    assert not Session.objects.filter(session_key=stolen).exists()

    thief = Client()
    thief.cookies[settings.SESSION_COOKIE_NAME] = stolen
    response = thief.get(reverse("patients:list"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert [event.actor for event in events(Action.LOGOUT)] == [clinician]
    assert not events(Action.PATIENT_VIEWED) and not events(Action.ACCESS_DENIED)


def _session(patient):
    return SessionFactory(course=CourseFactory(patient=patient), sites=1)


CLINICAL_POSTS = [
    ("treatments:session_sign", lambda patient: _session(patient).pk),
    ("treatments:session_addendum", lambda patient: _session(patient).pk),
    ("treatments:session_edit", lambda patient: _session(patient).pk),
    ("documents:retry", lambda patient: pending_document_for(patient).pk),
]


@pytest.mark.parametrize(("name", "target"), CLINICAL_POSTS, ids=[name for name, _ in CLINICAL_POSTS])
def test_the_front_desk_posting_to_a_clinical_url_is_refused_and_recorded(
    front_desk_client, front_desk, patient, name, target
):
    url = reverse(name, args=[target(patient)])
    response = front_desk_client.post(url, {"text": "Injected note"})
    assert response.status_code == 403
    [denied] = events(Action.ACCESS_DENIED)
    assert (denied.actor, denied.path) == (front_desk, url)
    assert denied.detail == {"reason": "permission", "view": name, "method": "POST"}


def test_a_patient_changing_the_id_in_a_portal_url_gets_a_404_like_a_missing_one(
    patient_client, patient_user, patient, other_patient
):
    appointment = make_appointment(other_patient, in_days(2))
    document = make_document(other_patient)
    for name, theirs, kind in [
        ("portal:document_download", document.pk, "document"),
        ("portal:appointment_cancel", appointment.pk, "appointment"),
        ("portal:check_in", appointment.pk, "appointment"),
        ("portal:appointment_ics", appointment.pk, "appointment"),
    ]:
        refused = patient_client.get(reverse(name, args=[theirs]))
        missing = patient_client.get(reverse(name, args=[10**9]))
        assert refused.status_code == missing.status_code == 404, name
        assert comparable(refused.content) == comparable(missing.content), name
        denied = AuditEvent.objects.filter(action=Action.ACCESS_DENIED).latest("id")
        assert (denied.actor, denied.patient) == (patient_user, other_patient)
        assert denied.detail == {"reason": "not_theirs", "kind": kind, "id": str(theirs)}
    assert len(events(Action.ACCESS_DENIED)) == 4  # the missing ids were not refusals


STAFF_URLS = [
    ("patients:detail", lambda other: other.pk),
    ("patients:edit", lambda other: other.pk),
    ("documents:download", lambda other: make_document(other).pk),
    ("documents:patient_status", lambda other: other.pk),
    ("audit:disclosures", lambda other: other.pk),
]


@pytest.mark.parametrize(("name", "target"), STAFF_URLS, ids=[name for name, _ in STAFF_URLS])
def test_a_patient_changing_the_id_in_a_staff_url_learns_nothing_and_is_recorded(
    patient_client, patient_user, patient, other_patient, name, target
):
    """Staff pages refuse a patient's account before looking at the id (403 whatever it is), so another
    patient's id and a missing one get the same answer here too."""
    theirs = target(other_patient)
    refused = patient_client.get(reverse(name, args=[theirs]))
    missing = patient_client.get(reverse(name, args=[10**9]))
    assert refused.status_code == missing.status_code == 403
    assert comparable(refused.content) == comparable(missing.content)
    assert [(event.actor, event.detail["view"]) for event in events(Action.ACCESS_DENIED)] == [
        (patient_user, name),
        (patient_user, name),
    ]


@pytest.mark.parametrize("signed_in", [True, False], ids=["signed in", "sign-in form"])
def test_a_post_without_a_csrf_token_is_refused_and_recorded(clinician, patient, signed_in):
    client = Client(enforce_csrf_checks=True)
    if signed_in:
        client.force_login(clinician)
        url = reverse("patients:edit", args=[patient.pk])
    else:
        url = reverse("login")
    response = client.post(url, {"username": "alice", "password": PASSWORD, "given_name": "Mallory"})
    assert response.status_code == 403
    assert "This form has expired" in response.content.decode()
    [refused] = events(Action.CSRF_FAILED)
    assert refused.actor == (clinician if signed_in else None)
    assert refused.path == url and "CSRF" in refused.detail["reason"]
    patient.refresh_from_db()
    assert patient.given_name != "Mallory"


def test_editing_an_audit_row_with_sql_is_refused_and_detected_when_forced(db, capsys):
    written = [record(Action.EXPORT, username="mona", detail={"n": n}) for n in range(3)]
    with pytest.raises(ProgrammingError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditevent SET actor_username = 'nobody' WHERE id = %s", [written[1].pk])
    with pytest.raises(ProgrammingError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE id = %s", [written[1].pk])
    call_command("audit_verify")
    assert "intact" in capsys.readouterr().out

    bypass_append_only("UPDATE audit_auditevent SET actor_username = 'nobody' WHERE id = %s", [written[1].pk])
    with pytest.raises(CommandError, match=rf"broken at event {written[1].pk}\b"):
        call_command("audit_verify")
