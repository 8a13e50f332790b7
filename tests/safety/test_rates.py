"""Rates per 100 signed sessions and the flag rule, on worked examples computed by hand."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Role
from assessments.models import Nerve
from safety import services
from safety.rates import FLAG_MIN_SESSIONS, FLAG_RATE_MULTIPLE, Rate, is_flagged
from tests.factories import CourseFactory, UserFactory
from tests.safety.helpers import signed_batch


def test_the_rule_is_more_than_twice_the_clinic_rate_over_at_least_20_sessions():
    assert (FLAG_RATE_MULTIPLE, FLAG_MIN_SESSIONS) == (2, 20)
    # The clinic: 4 events in 100 sessions = 4.0 per 100, so a group is flagged above 8.0.
    assert is_flagged(3, 25, 4, 100)  # 12.0, over 25 sessions
    assert not is_flagged(2, 10, 4, 100)  # 20.0, but only 10 sessions
    assert not is_flagged(2, 25, 4, 100)  # 8.0: exactly twice is not more than twice
    assert is_flagged(2, 20, 4, 100)  # 10.0 over exactly 20 sessions
    assert not is_flagged(3, 19, 4, 100)  # 15.8 over 19 sessions
    assert not is_flagged(0, 50, 0, 100)  # a clinic without events flags nothing


def test_a_rate_is_events_per_100_sessions_to_one_decimal():
    assert Rate("A", events=4, sessions=100).per_100 == Decimal("4.0")
    assert Rate("A", events=1, sessions=3).per_100 == Decimal("33.3")  # 33.33...
    assert Rate("A", events=2, sessions=3).per_100 == Decimal("66.7")  # 66.66...
    assert Rate("A", events=1, sessions=8).per_100 == Decimal("12.5")
    assert Rate("A", events=0, sessions=0).per_100 is None


@pytest.fixture
def yann(db):
    return UserFactory(username="yann", first_name="Yann", last_name="Berg", role=Role.CLINICIAN)


@pytest.fixture
def clinic_year(clinician, yann):
    """125 signed sessions in the last twelve months, and what must not count:

    - lot A: 25 sessions by Alice, ultrasound-guided; 2 events in the notes and 1 reaction reported later;
    - lot B: 10 sessions by Yann; 2 events in the notes; and 3 drafts with an event each (never counted);
    - lot C: 90 sessions by Yann, no events;
    - lot A again: a session 400 days ago with an event, before the period.
    """
    old_course = CourseFactory(created_by=clinician, started_on=timezone.localdate() - timedelta(days=500))
    lot_a = signed_batch(
        CourseFactory(created_by=clinician), 25, lot="A", clinician=clinician, events=2, technique="ultrasound"
    )
    services.delayed_reaction_report(
        patient=lot_a[5].course.patient, session=lot_a[5], description="A bruise came up two days later.",
        severity="mild", kind="bruising", via="portal", by=UserFactory(role=Role.PATIENT),
    )  # fmt: skip
    course_b = CourseFactory(created_by=yann)
    signed_batch(course_b, 10, lot="B", clinician=yann, events=2)
    signed_batch(course_b, 3, lot="B", clinician=yann, events=3, first_number=11, signed=False)
    signed_batch(CourseFactory(created_by=yann), 90, lot="C", clinician=yann)
    signed_batch(old_course, 1, lot="A", clinician=clinician, events=1, days_ago=400)


def _rates(client, query: str = ""):
    response = client.get(reverse("safety:log") + query)
    assert response.status_code == 200
    return response.context["rates"], response.content.decode()


def _by_label(rates: list[Rate]) -> dict[str, tuple[int, int, Decimal | None, bool]]:
    return {rate.label: (rate.events, rate.sessions, rate.per_100, rate.flagged) for rate in rates}


def test_worked_example_of_the_rates_and_the_flag(clinician_client, clinic_year):
    rates, content = _rates(clinician_client)
    # The clinic: 3 + 2 + 0 = 5 events in 25 + 10 + 90 = 125 signed sessions: 5 / 125 x 100 = 4.0.
    assert (rates.clinic.events, rates.clinic.sessions, rates.clinic.per_100) == (5, 125, Decimal("4.0"))
    assert _by_label(rates.groups["Lot"]) == {
        "A": (3, 25, Decimal("12.0"), True),  # 12.0 > 2 x 4.0 over 25 sessions
        "B": (2, 10, Decimal("20.0"), False),  # 20.0, but 10 sessions are under 20
        "C": (0, 90, Decimal("0.0"), False),
    }
    assert [rate.label for rate in rates.groups["Lot"]] == ["C", "A", "B"]  # most sessions first
    assert _by_label(rates.groups["Technique"]) == {
        "Ultrasound-guided": (3, 25, Decimal("12.0"), True),
        "Superficial subcutaneous": (2, 100, Decimal("2.0"), False),  # 2 / 100
    }
    assert _by_label(rates.groups["Clinician"]) == {
        "Alice Carter": (3, 25, Decimal("12.0"), True),
        "Yann Berg": (2, 100, Decimal("2.0"), False),
    }
    # Every session has a site on the same nerve: it carries the clinic's figures.
    [nerve] = rates.groups["Nerve"]
    assert (nerve.events, nerve.sessions, nerve.flagged) == (5, 125, False)
    # The page shows numerator and denominator, and the flag on lot A's row only.
    assert "<strong>5</strong> events in <strong>125</strong> signed sessions = <strong>4.0</strong>" in content
    lot_table = content.split('id="rates-lot"')[1].split("</table>")[0]
    assert lot_table.count("Flagged") == 1
    row_a = lot_table.split('data-group="A"')[1].split("</tr>")[0]
    assert "Flagged" in row_a and ">3<" in row_a and ">25<" in row_a and ">12.0<" in row_a


def test_drafts_never_count(clinician_client, clinic_year):
    rates, _ = _rates(clinician_client)
    # Had the 3 drafts counted, lot B would be 5 events in 13 sessions.
    assert _by_label(rates.groups["Lot"])["B"][:2] == (2, 10)


def test_the_period_chooses_the_sessions(clinician_client, clinic_year):
    today = timezone.localdate()
    query = f"?first={today - timedelta(days=500):%Y-%m-%d}&last={today - timedelta(days=300):%Y-%m-%d}"
    rates, _ = _rates(clinician_client, query)
    # Only the session 400 days ago: 1 event in 1 session.
    assert _by_label(rates.groups["Lot"]) == {"A": (1, 1, Decimal("100.0"), False)}


def test_a_session_counts_once_towards_each_of_its_nerves(clinician_client, clinician):
    first, second, third = Nerve.objects.filter(active=True).order_by("pk")[:3]
    course = CourseFactory(created_by=clinician)
    # One session on the first nerve (left and right) and the second, with an event; one on the first nerve only,
    # without events; one on the third, with an event.
    signed_batch(course, 1, lot="N", clinician=clinician, events=1, nerves=[first, first, second])
    signed_batch(course, 1, lot="N", clinician=clinician, nerves=[first], first_number=2)
    signed_batch(course, 1, lot="N", clinician=clinician, events=1, nerves=[third], first_number=3)
    rates, _ = _rates(clinician_client)
    assert (rates.clinic.events, rates.clinic.sessions) == (2, 3)
    assert _by_label(rates.groups["Nerve"]) == {
        first.name: (1, 2, Decimal("50.0"), False),  # the two sessions with it, one of them with the event
        second.name: (1, 1, Decimal("100.0"), False),
        third.name: (1, 1, Decimal("100.0"), False),
    }
