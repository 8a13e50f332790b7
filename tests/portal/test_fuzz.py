"""Whatever a patient's browser sends to a portal form, the answer is a page with a message or a redirect: never a 500.

Each example is rolled back, so one example's saved answer or new account never shapes the next one."""

from decimal import Decimal

import pytest
from django.db import transaction
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from portal.forms import CheckInForm, ContactDetailsForm
from portal.models import CheckIn
from scheduling.models import AppointmentStatus
from tests.portal.helpers import in_days, make_appointment, make_invite
from tests.portal.test_check_in import ANSWERS
from tests.portal.test_contact import VALID

TRICKY = ["\x00", "   ", "-0", "1e3", "10.55", "NaN", "Infinity", "\uff11\uff10", "True", "on", "x" * 5000, "<b>7</b>"]
ANY_TEXT = st.one_of(st.text(max_size=50), st.sampled_from(TRICKY), st.integers(-1000, 1000).map(str))
FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def changed(valid: dict, fields: list[str]):
    """Half the examples change a few fields of a valid submission; the rest are arbitrary in every field."""
    return st.one_of(
        st.dictionaries(st.sampled_from(fields), ANY_TEXT, min_size=1, max_size=3).map(lambda edits: valid | edits),
        st.fixed_dictionaries(dict.fromkeys(fields, ANY_TEXT)),
    )


def post_and_roll_back(client: Client, url: str, data: dict, check=None) -> int:
    with transaction.atomic():
        response = client.post(url, data)
        event(f"answered {response.status_code}")
        if check:
            check(response)
        transaction.set_rollback(True)
    return response.status_code


@pytest.fixture
def invite(other_patient):
    return make_invite(other_patient, "fuzz-token")


@pytest.fixture
def tomorrows(patient):
    return make_appointment(patient, in_days(3))


@FUZZ
@given(data=changed(ANSWERS, sorted(CheckInForm.base_fields)))
def test_check_in_answers_are_saved_in_range_or_refused(patient_client, tomorrows, data):
    def in_range(response) -> None:
        for check_in in CheckIn.objects.all():
            assert all(0 <= score <= 10 for score in (check_in.nrs_now, check_in.peg_pain, check_in.peg_activity))
            assert Decimal(0) <= check_in.analgesic_doses_per_week <= 100

    status = post_and_roll_back(patient_client, reverse("portal:check_in", kwargs={"pk": tomorrows.pk}), data, in_range)
    assert status in (302, 400)


@FUZZ
@given(data=changed(VALID, sorted(ContactDetailsForm.base_fields)))
def test_contact_details_are_saved_or_refused(patient_client, patient, data):
    assert post_and_roll_back(patient_client, reverse("portal:contact"), data) in (302, 400)


@FUZZ
@given(reason=ANY_TEXT)
def test_any_cancel_reason_cancels_or_is_refused(patient_client, tomorrows, reason):
    def consistent(response) -> None:
        tomorrows.refresh_from_db()
        assert (tomorrows.status == AppointmentStatus.CANCELLED) == (response.status_code == 302)

    status = post_and_roll_back(
        patient_client,
        reverse("portal:appointment_cancel", kwargs={"pk": tomorrows.pk}),
        {"reason": reason},
        consistent,
    )
    assert status in (302, 400)


@FUZZ
@given(
    data=changed(
        {"username": "eleanor", "password1": "harbour-lantern-91", "password2": "harbour-lantern-91"},
        ["username", "password1", "password2"],
    )
)
def test_invite_acceptance_makes_an_account_or_refuses(client, invite, data):
    assert post_and_roll_back(client, reverse("portal:invite_accept", kwargs={"token": "fuzz-token"}), data) in (
        302,
        400,
    )
