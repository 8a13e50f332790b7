"""Clock changes: a weekly 10:00 session stays at 10:00 on the clinic's clock when the UTC offset changes.

In 2027 British Summer Time starts on Sunday 28 March and ends on Sunday 31 October."""

from datetime import UTC, date, time, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from scheduling import followups
from scheduling.models import Appointment
from scheduling.services import free_slots
from tests.scheduling.followup_helpers import EVERY_DAY, appointment, at, course_for, pit_type, working_week

SPRING = {
    "first_monday": date(2027, 3, 15),
    "change": date(2027, 3, 28),
    "before": timedelta(0),
    "after": timedelta(hours=1),
}
AUTUMN = {
    "first_monday": date(2027, 10, 18),
    "change": date(2027, 10, 31),
    "before": timedelta(hours=1),
    "after": timedelta(0),
}
CHANGES = pytest.mark.parametrize("change", [SPRING, AUTUMN], ids=["spring", "autumn"])


@pytest.fixture(autouse=True)
def london(settings):
    settings.TIME_ZONE = "Europe/London"


@pytest.fixture
def clinician(clinician):
    working_week(clinician, days=EVERY_DAY)
    return clinician


def weekly_series(clinician, first_monday: date):
    course = course_for(clinician, interval_days=7)
    return followups.series_book(
        patient=course.patient,
        clinician=clinician,
        appointment_type=pit_type(),
        first_starts_at=at(first_monday, 10),
        every_days=7,
        count=4,
        by=clinician,
        course=course,
    )


@CHANGES
def test_a_weekly_series_keeps_its_local_time_across_the_clock_change(clinician, change):
    results = weekly_series(clinician, change["first_monday"])
    booked = [result.booked.starts_at for result in results]
    assert [result.note for result in results] == [""] * 4
    local = [timezone.localtime(moment) for moment in booked]
    assert [moment.date() for moment in local] == [change["first_monday"] + timedelta(weeks=n) for n in range(4)]
    assert {moment.time() for moment in local} == {time(10)}
    assert [moment.utcoffset() for moment in local] == [change["before"]] * 2 + [change["after"]] * 2
    # The same wall clock is a different UTC hour on either side of the change.
    utc_hours = [moment.astimezone(UTC).hour for moment in booked]
    assert utc_hours[0] != utc_hours[3]
    assert utc_hours == [10 - int(offset.total_seconds() // 3600) for offset in [m.utcoffset() for m in local]]


@CHANGES
def test_adding_days_to_an_aware_time_would_have_been_an_hour_out(clinician, change):
    first = at(change["first_monday"], 10)
    naive_fourth = first.astimezone(UTC) + timedelta(weeks=3)
    series = followups.occurrences(first, every_days=7, count=4)
    assert series[3] != naive_fourth
    assert abs(series[3] - naive_fourth) == timedelta(hours=1)


@CHANGES
def test_free_slots_on_and_around_the_change_day_are_at_local_clock_times(clinician, change):
    kind = pit_type()
    for day in (change["change"] - timedelta(days=1), change["change"], change["change"] + timedelta(days=1)):
        slots = free_slots(
            appointment_type=kind, clinician_choices=[clinician], start=at(day, 0), until=at(day, 23, 59), limit=500
        )
        local = [timezone.localtime(slot.starts_at) for slot in slots]
        assert (local[0].time(), local[-1].time()) == (time(8), time(17, 40))
        assert len(slots) == (10 * 60 - 20) // 5 + 1  # the same as any other day: no hour lost or gained
        assert {moment.date() for moment in local} == {day}
        expected = change["before"] if day < change["change"] else change["after"]
        assert {moment.utcoffset() for moment in local} == {expected}


def test_the_next_session_is_proposed_at_the_same_local_time_after_the_clocks_go_back(clinician):
    course = course_for(clinician, interval_days=7)
    appointment(at(date(2027, 10, 25), 10), clinician=clinician, course=course)  # 09:00 UTC, summer time
    proposal = followups.next_session_proposal(course=course)
    assert proposal.starts_at == at(date(2027, 11, 1), 10)
    assert proposal.starts_at.astimezone(UTC).hour == 10  # winter time
    assert timezone.localtime(proposal.starts_at).time() == time(10)


def test_the_series_page_books_and_reports_local_times_across_the_change(clinician_client, clinician):
    course = course_for(clinician, interval_days=7)
    url = f"{reverse('scheduling:book_series')}?course={course.pk}"
    data = {"clinician": clinician.pk, "starts_at": "2027-10-18T10:00", "every_days": 7, "count": 4, "confirm": 1}
    assert clinician_client.post(url, data).status_code == 302
    body = clinician_client.get(url).content.decode()
    for day in ("18/10/2027", "25/10/2027", "01/11/2027", "08/11/2027"):
        assert f"{day} 10:00" in body
    assert {timezone.localtime(a.starts_at).time() for a in Appointment.objects.filter(course=course)} == {time(10)}
