"""The calendar grid away from the pages: which minutes of a column are taken, and the diary's query."""

from datetime import timedelta
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from accounts.models import Role
from scheduling.models import MAX_APPOINTMENT_LENGTH
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


# --- The diary's appointments, read by a query prepared for each number of clinicians ----------------------------


def _diary(clinicians, day):
    start, end = grid.aware(day), grid.aware(day + timedelta(days=1))
    return grid.diary_rows([c.pk for c in clinicians], start, end), start, end


@pytest.mark.parametrize("how_many", [1, 2, 17])
def test_the_prepared_diary_reads_what_its_queryset_reads(db, how_many):
    staff = [UserFactory(role=Role.CLINICIAN) for _ in range(how_many)]
    outsider = UserFactory(role=Role.CLINICIAN)
    day = tomorrow()
    for index, clinician in enumerate([*staff, outsider]):
        AppointmentFactory(clinician=clinician, starts_at=at(day, 9) + timedelta(minutes=5 * index))
        AppointmentFactory(clinician=clinician, starts_at=at(day + timedelta(days=1), 9))  # the next day
    rows, start, end = _diary(staff, day)
    queried = grid._diary_rows(start, end, start - MAX_APPOINTMENT_LENGTH, *[c.pk for c in staff])
    assert rows == list(queried) and len(rows) == how_many


def test_more_clinicians_than_any_prepared_size_are_read_unprepared(db, monkeypatch):
    monkeypatch.setattr(grid, "DIARY_SIZES", (1,))
    staff = [UserFactory(role=Role.CLINICIAN) for _ in range(2)]
    for clinician in staff:
        AppointmentFactory(clinician=clinician, starts_at=at(tomorrow(), 10))
    rows, _, _ = _diary(staff, tomorrow())
    assert sorted(row[4] for row in rows) == sorted(c.pk for c in staff)
