"""The calendar grid's arithmetic, away from the pages: which minutes of a column are taken."""

from types import SimpleNamespace

from hypothesis import given
from hypothesis import strategies as st

from scheduling.views.grid import TakenMinutes


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
