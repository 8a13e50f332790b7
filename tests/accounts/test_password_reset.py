"""Password reset: the page hands the email to the worker after commit, and the broker sees only a user id.

No Celery worker runs here: the task's apply_async is replaced, and the task body is called directly.
"""

import json
import re
from urllib.parse import urlsplit

import pytest
from django.contrib.auth import get_user
from django.contrib.auth.tokens import default_token_generator
from django.urls import reverse

from accounts.tasks import send_password_reset_email
from audit.models import Action, AuditEvent
from pit_portal.outbox.models import EmailKind, OutboxEmail
from tests.factories import UserFactory
from tests.outbox.helpers import owed, record_sends

NEW_PASSWORD = "a-new-long-passphrase-42"


@pytest.fixture
def messages(monkeypatch) -> list[int]:
    """The outbox ids the messages to the broker would carry."""
    return record_sends(monkeypatch)


@pytest.fixture
def enqueued(messages):
    """The reset emails sent to the broker so far, as ((user id,), {})."""
    return lambda: [((object_id,), {}) for _, object_id in owed(messages)]


@pytest.fixture
def erin(db):
    return UserFactory(username="erin", email="erin@example.org")


def request_reset(client, email: str, capture):
    with capture(execute=False) as callbacks:
        response = client.post(reverse("password_reset"), {"email": email})
    return response, callbacks


def without_csrf(content: bytes) -> bytes:
    return re.sub(rb'("X-CSRFToken": "|name="csrfmiddlewaretoken" value=")[^"]*', rb"\1", content)


def test_reset_email_is_enqueued_only_after_commit(client, erin, enqueued, django_capture_on_commit_callbacks):
    response, callbacks = request_reset(client, "erin@example.org", django_capture_on_commit_callbacks)
    assert response.status_code == 302
    assert response["Location"] == reverse("password_reset_done")
    assert enqueued() == []  # nothing reaches the broker while the transaction is open
    assert len(callbacks) == 1
    callbacks[0]()
    assert enqueued() == [((erin.pk,), {})]


def test_task_message_holds_only_the_user_id(client, erin, enqueued, messages, django_capture_on_commit_callbacks):
    _, callbacks = request_reset(client, "erin@example.org", django_capture_on_commit_callbacks)
    for callback in callbacks:
        callback()
    assert enqueued() == [((erin.pk,), {})]
    [owed] = OutboxEmail.objects.values()
    assert (owed["kind"], owed["object_id"]) == (EmailKind.PASSWORD_RESET, erin.pk)
    message = json.dumps([messages, owed], default=str)  # neither the message nor the row holds a token
    assert "erin@example.org" not in message
    assert "@" not in message
    assert default_token_generator.make_token(erin) not in message


def test_email_is_matched_whatever_its_case(client, erin, enqueued, django_capture_on_commit_callbacks):
    _, callbacks = request_reset(client, "Erin@EXAMPLE.org", django_capture_on_commit_callbacks)
    for callback in callbacks:
        callback()
    assert enqueued() == [((erin.pk,), {})]


def test_unknown_email_enqueues_nothing_and_shows_the_same_page(
    client, erin, enqueued, django_capture_on_commit_callbacks
):
    known, _ = request_reset(client, "erin@example.org", django_capture_on_commit_callbacks)
    unknown, callbacks = request_reset(client, "nobody@example.org", django_capture_on_commit_callbacks)
    assert callbacks == []
    assert enqueued() == []
    assert (unknown.status_code, unknown["Location"]) == (known.status_code, known["Location"])
    known_page = client.get(known["Location"])
    unknown_page = client.get(unknown["Location"])
    assert without_csrf(unknown_page.content) == without_csrf(known_page.content)


@pytest.mark.parametrize("account", ["inactive", "unusable password"])
def test_account_that_cannot_sign_in_gets_no_reset_email(
    client, erin, enqueued, django_capture_on_commit_callbacks, account
):
    if account == "inactive":
        erin.is_active = False
    else:
        erin.set_unusable_password()
    erin.save()
    response, callbacks = request_reset(client, "erin@example.org", django_capture_on_commit_callbacks)
    assert response.status_code == 302
    assert callbacks == []
    assert enqueued() == []


def test_malformed_email_is_refused_with_a_message(client, enqueued, django_capture_on_commit_callbacks):
    response, callbacks = request_reset(client, "not-an-address", django_capture_on_commit_callbacks)
    assert response.status_code == 200
    assert response.context["form"].errors["email"] == ["Enter a valid email address."]
    assert "Enter a valid email address." in response.content.decode()
    assert callbacks == []
    assert enqueued() == []


# --- the task body, called in this process ------------------------------------------------------


def reset_link(message) -> str:
    (url,) = re.findall(r"https?://\S+", message.body)
    return urlsplit(url).path


def test_task_emails_a_link_that_sets_a_new_password_once(client, erin, mailoutbox):
    send_password_reset_email(erin.pk)
    assert len(mailoutbox) == 1
    assert mailoutbox[0].to == ["erin@example.org"]
    link = reset_link(mailoutbox[0])

    form_page = client.get(link, follow=True)
    assert form_page.context["validlink"]
    response = client.post(
        form_page.redirect_chain[-1][0], {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    )
    assert response["Location"] == reverse("password_reset_complete")
    erin.refresh_from_db()
    assert erin.check_password(NEW_PASSWORD)

    used_again = client.get(link, follow=True)
    assert not used_again.context["validlink"]
    assert "expired or was already used" in used_again.content.decode()


def test_link_with_a_forged_token_is_refused(client, erin, mailoutbox):
    send_password_reset_email(erin.pk)
    forged = re.sub(r"/[^/]+/$", "/0-forged/", reset_link(mailoutbox[0]))
    page = client.get(forged, follow=True)
    assert not page.context["validlink"]
    assert not get_user(client).is_authenticated


@pytest.mark.parametrize("account", ["missing", "inactive", "no email"])
def test_task_sends_nothing_for_an_account_that_cannot_reset(erin, mailoutbox, account):
    user_id = erin.pk
    if account == "missing":
        erin.delete()
    elif account == "inactive":
        erin.is_active = False
        erin.save()
    else:
        erin.email = ""
        erin.save()
    send_password_reset_email(user_id)
    assert mailoutbox == []


def test_one_address_is_sent_at_most_the_hourly_number_of_reset_emails(
    client, erin, enqueued, django_capture_on_commit_callbacks, settings
):
    settings.PASSWORD_RESET_EMAILS_PER_HOUR = 3
    answers = []
    for email in ["erin@example.org", "ERIN@example.org", "erin@example.org", "erin@example.org", " erin@example.org"]:
        response, callbacks = request_reset(client, email, django_capture_on_commit_callbacks)
        answers.append((response.status_code, response["Location"]))
        for callback in callbacks:
            callback()
    assert enqueued() == [((erin.pk,), {})] * 3
    assert len(set(answers)) == 1, "the page answers alike whether or not an email went"


def test_the_limit_is_per_address_and_the_trail_keeps_no_address(
    client, erin, enqueued, django_capture_on_commit_callbacks, settings
):
    settings.PASSWORD_RESET_EMAILS_PER_HOUR = 1
    other = UserFactory(username="finn", email="finn@example.org")
    for email in ["erin@example.org", "erin@example.org", "finn@example.org"]:
        _, callbacks = request_reset(client, email, django_capture_on_commit_callbacks)
        for callback in callbacks:
            callback()
    assert enqueued() == [((erin.pk,), {}), ((other.pk,), {})]
    events = AuditEvent.objects.filter(action=Action.PASSWORD_RESET_REQUESTED).order_by("id")
    assert [event.detail["sent"] for event in events] == [True, False, True]
    assert all("@" not in json.dumps(event.detail) for event in events)
