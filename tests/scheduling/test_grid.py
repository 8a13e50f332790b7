"""The calendar grid away from the pages: which minutes of a column are taken, and the diary's query."""

from datetime import timedelta
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from accounts.models import Role
from scheduling.views import grid
from scheduling.views.grid import TakenMinutes
from tests.factories import UserFactory
from tests.scheduling.factories import AppointmentFactory, at, tomorrow


def _appointment(minute: int, length: int) -> SimpleNamespace:
    return SimpleNamespace(minute=minute, length=length)


appointments = st.lists(st.builds(_appointment, st.integers(0, 1439), st.integers(1, 240)), max_size=30)


@given(live=appointments, start=st.integers(0, 1439), length=st.integers(1, 60))
def test_a_stretch_is_taken_when_any_appointment_overlaps_it(live, start, length):
    end = start + length
    any_overlap = any(a.minute < end and start < a.minute + a.length for a in live)
    assert TakenMinutes.of(live).overlap(start, end) is any_overlap


def test_touching_and_overlapping_appointments_are_one_stretch():
    live = [_appointment(m, n) for m, n in [(600, 30), (540, 60), (630, 15), (700, 10)]]
    taken = TakenMinutes.of(live)
    assert (taken.starts, taken.ends) == ([540, 700], [645, 710])
    assert not taken.overlap(645, 700) and taken.overlap(644, 645) and taken.overlap(709, 720)


# --- The diary's appointments ------------------------------------------------------------------------------------


@pytest.mark.parametrize("how_many", [1, 2, 17])
def test_the_diary_reads_the_shown_clinicians_appointments_of_the_day(db, how_many):
    staff = [UserFactory(role=Role.CLINICIAN) for _ in range(how_many)]
    outsider = UserFactory(role=Role.CLINICIAN)
    day = tomorrow()
    for index, clinician in enumerate([*staff, outsider]):
        AppointmentFactory(clinician=clinician, starts_at=at(day, 9) + timedelta(minutes=5 * index))
        AppointmentFactory(clinician=clinician, starts_at=at(day + timedelta(days=1), 9))  # the next day
    rows = grid.diary_rows([c.pk for c in staff], grid.aware(day), grid.aware(day + timedelta(days=1)))
    assert [row[4] for row in rows] == [c.pk for c in staff]  # in time order
