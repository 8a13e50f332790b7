"""Session rules: a new key at sign-in, nothing left after sign-out, idle and absolute time-outs,
"sign out everywhere", the keep-alive, and the audit events they leave."""

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings
from django.contrib.auth import get_user
from django.contrib.auth.models import Group
from django.contrib.messages import get_messages
from django.contrib.sessions.models import Session
from django.db import connection
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts import session_policy
from accounts.middleware import IDLE_SECONDS_HEADER
from accounts.models import Role
from audit.context import CurrentRequestMiddleware
from audit.models import Action, AuditEvent
from tests.factories import PASSWORD, UserFactory

SIGNED_OUT_EVERYWHERE = "You were signed out everywhere"
SIGNED_OUT_IDLE = "signed out after a period without activity"
SIGNED_OUT_LONG = "signed in for a long time"


@pytest.fixture
def clock(monkeypatch):
    """Stops "now" for everything that asks django.utils.timezone (the session rules do), and moves it
    to a given time after the start. Ask for it before a signed-in client to sign in at the start."""
    start = timezone.now().replace(microsecond=0)

    class Clock:
        def at(self, **since_start) -> None:
            monkeypatch.setattr(timezone, "now", lambda: start + timedelta(**since_start))

    clock = Clock()
    clock.at(seconds=0)
    return clock


def sign_in(client: Client, username: str) -> None:
    response = client.post(reverse("login"), {"username": username, "password": PASSWORD})
    assert response.status_code == 302


def events(action: Action):
    return AuditEvent.objects.filter(action=action).order_by("id")


def assert_sent_to_sign_in(response, *, next_url: str | None, message: str) -> None:
    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert location.path == reverse("login")
    assert parse_qs(location.query).get("next") == ([next_url] if next_url else None)
    assert any(message in str(m) for m in get_messages(response.wsgi_request))


def session_row_writes(queries) -> list[str]:
    return [q["sql"] for q in queries if "django_session" in q["sql"] and q["sql"].startswith(("UPDATE", "INSERT"))]


# --- sign-in and sign-out -------------------------------------------------------------------------


def test_signing_in_gives_a_new_session_key(client, clinician):
    client.get(reverse("login"))
    before = client.session
    before["visited"] = True
    before.save()
    old_key = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert old_key == before.session_key

    sign_in(client, "alice")

    new_key = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert new_key != old_key
    assert not Session.objects.filter(session_key=old_key).exists()
    assert get_user(client) == clinician


def test_a_cookie_copied_before_sign_out_is_useless_afterwards(client, patient_user):
    sign_in(client, "charlie")
    stolen = client.cookies[settings.SESSION_COOKIE_NAME].value
    thief = Client()
    thief.cookies[settings.SESSION_COOKIE_NAME] = stolen
    assert thief.get(reverse("home")).status_code == 200  # the copy works while the session lives

    client.post(reverse("logout"))

    response = thief.get(reverse("home"))
    assert response.status_code == 302
    assert urlsplit(response["Location"]).path == reverse("login")
    assert not Session.objects.filter(session_key=stolen).exists()


def test_sign_in_and_sign_out_are_audited(client, clinician):
    sign_in(client, "alice")
    client.post(reverse("logout"))
    signed_in = events(Action.LOGIN).get()
    signed_out = events(Action.LOGOUT).get()
    assert signed_in.actor == clinician
    assert signed_out.actor == clinician
    assert signed_in.ip_address == "127.0.0.1"
    assert signed_in.path == reverse("login")


def test_sign_in_starts_the_session_clock(client, clinician, patient_user):
    sign_in(client, "alice")
    session = client.session
    assert session[session_policy.AUDIENCE] == session_policy.STAFF
    assert session[session_policy.GENERATION] == clinician.session_generation
    assert abs(session[session_policy.SIGNED_IN_AT] - timezone.now().timestamp()) < 5
    patient = Client()
    sign_in(patient, "charlie")
    assert patient.session[session_policy.AUDIENCE] == session_policy.PATIENT


# --- idle -----------------------------------------------------------------------------------------


def test_staff_stay_signed_in_just_under_fifteen_idle_minutes(clock, clinician_client):
    clock.at(minutes=14, seconds=50)
    assert clinician_client.get(reverse("home")).status_code == 200


def test_staff_are_signed_out_after_fifteen_idle_minutes(clock, clinician_client, clinician):
    clock.at(minutes=15, seconds=1)
    response = clinician_client.get(reverse("patients:list"))
    assert_sent_to_sign_in(response, next_url=reverse("patients:list"), message=SIGNED_OUT_IDLE)
    assert not get_user(clinician_client).is_authenticated
    expired = events(Action.SESSION_EXPIRED).get()
    assert expired.actor == clinician
    assert expired.detail == {"reason": "idle"}
    # The session's end is its own event, not an ordinary sign-out.
    assert not events(Action.LOGOUT).exists()


def test_patients_get_thirty_idle_minutes(clock, patient_client, patient):
    clock.at(minutes=29, seconds=50)
    assert patient_client.get(reverse("home")).status_code == 200
    clock.at(minutes=59, seconds=40)
    assert patient_client.get(reverse("home")).status_code == 200
    clock.at(minutes=89, seconds=41)
    response = patient_client.get(reverse("home"))
    assert_sent_to_sign_in(response, next_url=reverse("home"), message=SIGNED_OUT_IDLE)
    assert events(Action.SESSION_EXPIRED).get().detail == {"reason": "idle"}


def test_each_request_moves_the_idle_limit_on(clock, clinician_client):
    clock.at(minutes=10)
    assert clinician_client.get(reverse("home")).status_code == 200
    clock.at(minutes=20)
    assert clinician_client.get(reverse("home")).status_code == 200


def test_most_requests_write_no_session_row(clock, clinician_client):
    clinician_client.get(reverse("home"))
    clock.at(seconds=30)
    with CaptureQueriesContext(connection) as soon:
        assert clinician_client.get(reverse("home")).status_code == 200
    assert session_row_writes(soon.captured_queries) == []
    clock.at(seconds=session_policy.TOUCH_INTERVAL)
    with CaptureQueriesContext(connection) as later:
        assert clinician_client.get(reverse("home")).status_code == 200
    assert len(session_row_writes(later.captured_queries)) == 1


def test_pages_say_how_long_the_session_may_stay_idle(clock, clinician_client):
    response = clinician_client.get(reverse("home"))
    assert response[IDLE_SECONDS_HEADER] == str(settings.SESSION_IDLE_TIMEOUT_STAFF)
    page = response.content.decode()
    assert f'data-session-idle-limit="{settings.SESSION_IDLE_TIMEOUT_STAFF}"' in page
    assert f'data-session-warning-seconds="{settings.SESSION_IDLE_WARNING}"' in page
    assert f'data-session-keepalive-url="{reverse("session_keepalive")}"' in page
    assert "js/session-timeout.js" in page
    clock.at(seconds=30)  # within the write interval: the countdown runs from the stored time
    response = clinician_client.get(reverse("home"))
    assert response[IDLE_SECONDS_HEADER] == str(settings.SESSION_IDLE_TIMEOUT_STAFF - 30)


def test_patient_pages_carry_the_patient_idle_limit(patient_client, patient):
    page = patient_client.get(reverse("home")).content.decode()
    assert f'data-session-idle-limit="{settings.SESSION_IDLE_TIMEOUT_PATIENT}"' in page


def test_signed_out_pages_carry_no_session_timer(client):
    page = client.get(reverse("login")).content.decode()
    assert "data-session-" not in page
    assert "session-timeout.js" not in page


def test_an_htmx_request_on_an_expired_session_is_told_to_load_the_sign_in_page(clock, clinician_client):
    clock.at(minutes=16)
    response = clinician_client.get(
        reverse("patients:list"),
        {"q": "x"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_CURRENT_URL="http://testserver/patients/?q=x",
    )
    assert response.status_code == 204
    assert response["HX-Redirect"] == f"{reverse('login')}?next=%2Fpatients%2F%3Fq%3Dx"
    assert not get_user(clinician_client).is_authenticated


def test_an_expired_post_goes_to_the_sign_in_page_without_next(clock, clinician_client):
    clock.at(minutes=16)
    response = clinician_client.post(reverse("password_change"), {})
    assert response.status_code == 302
    assert response["Location"] == reverse("login")


def test_the_sign_in_page_itself_ends_an_expired_session_and_keeps_its_next(clock, clinician_client):
    clock.at(minutes=16)
    url = f"{reverse('login')}?next=/patients/"
    response = clinician_client.get(url)
    assert response.status_code == 302
    assert response["Location"] == url
    assert clinician_client.get(url).status_code == 200


def test_sign_out_on_an_expired_session_still_signs_out(clock, clinician_client, clinician):
    clock.at(minutes=16)
    response = clinician_client.post(reverse("logout"))
    assert response["Location"] == reverse("login")
    assert not get_user(clinician_client).is_authenticated


# --- absolute -------------------------------------------------------------------------------------


def started(client: Client, *, ago: timedelta) -> None:
    """Pretend the session began `ago`, with a request just now (so only the absolute limit applies)."""
    session = client.session
    session[session_policy.SIGNED_IN_AT] = int((timezone.now() - ago).timestamp())
    session[session_policy.LAST_SEEN_AT] = int(timezone.now().timestamp())
    session.save()


def test_a_session_ends_after_twelve_hours_however_busy(clinician_client, clinician):
    started(clinician_client, ago=timedelta(hours=11, minutes=59))
    assert clinician_client.get(reverse("home")).status_code == 200
    started(clinician_client, ago=timedelta(hours=12, seconds=1))
    response = clinician_client.get(reverse("home"))
    assert_sent_to_sign_in(response, next_url=reverse("home"), message=SIGNED_OUT_LONG)
    assert events(Action.SESSION_EXPIRED).get().detail == {"reason": "absolute"}


def test_a_session_without_a_start_time_is_ended(clinician_client):
    session = clinician_client.session
    del session[session_policy.SIGNED_IN_AT]
    session.save()
    response = clinician_client.get(reverse("home"))
    assert response.status_code == 302
    assert not get_user(clinician_client).is_authenticated


# --- sign out everywhere --------------------------------------------------------------------------


def test_revoking_ends_every_session_of_that_user_at_its_next_request(manager_client, clinician, clinician_client):
    laptop, phone = clinician_client, Client()
    phone.force_login(clinician)  # password and second factor
    assert phone.get(reverse("home")).status_code == 200

    response = manager_client.post(reverse("security_revoke_sessions", kwargs={"pk": clinician.pk}))
    assert response.status_code == 302

    for device in (laptop, phone):
        assert_sent_to_sign_in(device.get(reverse("home")), next_url=reverse("home"), message=SIGNED_OUT_EVERYWHERE)
        assert not get_user(device).is_authenticated
    assert [e.detail for e in events(Action.SESSION_EXPIRED)] == [{"reason": "revoked"}] * 2
    # Signing in again starts a session under the new generation.
    phone.force_login(clinician)
    assert phone.get(reverse("home")).status_code == 200
    # Other users are not affected.
    assert manager_client.get(reverse("security_users")).status_code == 200


# --- keep-alive -----------------------------------------------------------------------------------


def test_keepalive_counts_as_activity(clock, clinician_client):
    clock.at(minutes=14)
    response = clinician_client.post(reverse("session_keepalive"))
    assert response.status_code == 204
    assert response[IDLE_SECONDS_HEADER] == str(settings.SESSION_IDLE_TIMEOUT_STAFF)
    clock.at(minutes=28)
    assert clinician_client.get(reverse("home")).status_code == 200


def test_keepalive_cannot_revive_an_expired_session(clock, clinician_client):
    clock.at(minutes=16)
    response = clinician_client.post(reverse("session_keepalive"))
    assert response.status_code == 302
    assert not get_user(clinician_client).is_authenticated


def test_keepalive_refuses_a_get_and_the_signed_out(client, clinician_client):
    assert clinician_client.get(reverse("session_keepalive")).status_code == 405
    response = client.post(reverse("session_keepalive"))
    assert response.status_code == 302
    assert urlsplit(response["Location"]).path == reverse("login")


# --- role changes ---------------------------------------------------------------------------------


def as_request_by(user, change) -> None:
    """Run `change` while a request by `user` is being served, as a view would."""
    request = RequestFactory().post("/admin/accounts/user/1/change/", REMOTE_ADDR="192.0.2.5")
    request.user = user

    def view(request):
        change()

    CurrentRequestMiddleware(view)(request)


def test_group_changes_are_audited_with_who_made_them(manager, db):
    erin = UserFactory(username="erin")
    clinicians = Group.objects.get(name=Role.CLINICIAN)
    front_desk = Group.objects.get(name=Role.FRONT_DESK)
    as_request_by(manager, lambda: erin.groups.add(clinicians, front_desk))
    as_request_by(manager, lambda: erin.groups.remove(front_desk))
    as_request_by(manager, lambda: erin.groups.clear())
    as_request_by(manager, lambda: front_desk.user_set.add(erin))
    changes = list(events(Action.ROLE_CHANGED).filter(object_id=str(erin.pk)))
    assert [change.detail for change in changes] == [
        {"added": ["clinician", "front_desk"]},
        {"removed": ["front_desk"]},
        {"removed": ["clinician"]},
        {"added": ["front_desk"]},
    ]
    assert {change.actor for change in changes} == {manager}
    assert {change.ip_address for change in changes} == {"192.0.2.5"}


def test_adding_a_group_it_already_has_records_nothing(db):
    erin = UserFactory(username="erin", role=Role.CLINICIAN)
    before = events(Action.ROLE_CHANGED).count()
    erin.groups.add(Group.objects.get(name=Role.CLINICIAN))
    assert events(Action.ROLE_CHANGED).count() == before


def test_access_flag_changes_are_audited(manager, db):
    erin = UserFactory(username="erin")

    def promote():
        erin.is_staff = True
        erin.is_superuser = True
        erin.save()

    as_request_by(manager, promote)
    change = events(Action.ROLE_CHANGED).filter(object_id=str(erin.pk)).get()
    assert change.actor == manager
    assert change.detail == {
        "flags": {"is_staff": {"from": False, "to": True}, "is_superuser": {"from": False, "to": True}}
    }
    erin.is_active = False
    erin.save(update_fields=["is_active"])
    outside_a_request = events(Action.ROLE_CHANGED).filter(object_id=str(erin.pk)).last()
    assert outside_a_request.actor is None
    assert outside_a_request.source == "command"
    assert outside_a_request.detail == {"flags": {"is_active": {"from": True, "to": False}}}


def test_saves_that_touch_no_flag_record_nothing_and_cost_no_query(db, django_assert_num_queries):
    erin = UserFactory(username="erin")
    erin.first_name = "Erin"
    erin.save()
    with django_assert_num_queries(1):  # the UPDATE itself: last_login at sign-in looks no flag up
        erin.last_login = timezone.now()
        erin.save(update_fields=["last_login"])
    assert not events(Action.ROLE_CHANGED).filter(object_id=str(erin.pk)).exists()
