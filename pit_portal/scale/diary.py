"""Clinicians' diaries for the synthetic data: every live appointment is placed in a free stretch of its
clinician's working hours, so the database's no-double-booking constraint always holds.

A day is a grid of five-minute units over the working blocks, kept as one integer bit mask per clinician and
day; placing an appointment sets its bits.
"""

import random
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

UNIT_MINUTES = 5
# The clinic's working week for every seeded clinician: Monday to Friday, with a lunch break.
WORKING_BLOCKS = ((time(8, 30), time(12, 30)), (time(13, 30), time(17, 30)))
WORKING_WEEKDAYS = range(5)
# Random placements tried before scanning the day for the first gap that fits.
RANDOM_TRIES = 6
# Days searched for a free slot before the same request goes to another clinician.
DAYS_SEARCHED = 10


def _minutes(at: time) -> int:
    return at.hour * 60 + at.minute


# (first unit, unit after the last, minute of the day at the first unit) for each working block.
BLOCKS = []
_first = 0
for _starts, _ends in WORKING_BLOCKS:
    _length = (_minutes(_ends) - _minutes(_starts)) // UNIT_MINUTES
    BLOCKS.append((_first, _first + _length, _minutes(_starts)))
    _first += _length
UNITS_PER_DAY = _first
WORKING_MINUTES_PER_DAY = UNITS_PER_DAY * UNIT_MINUTES


def is_working_day(day: date) -> bool:
    return day.weekday() in WORKING_WEEKDAYS


def next_working_day(day: date) -> date:
    while not is_working_day(day):
        day += timedelta(days=1)
    return day


class Clock:
    """Wall-clock minutes on a clinic day to UTC datetimes, with the day's offset cached (the clocks change at
    night, never during working hours)."""

    def __init__(self, zone_name: str):
        self.zone = ZoneInfo(zone_name)
        self._midnights: dict[date, datetime] = {}

    def at(self, day: date, minute: int) -> datetime:
        midnight = self._midnights.get(day)
        if midnight is None:
            offset = datetime.combine(day, time(12), tzinfo=self.zone).utcoffset() or timedelta(0)
            midnight = datetime.combine(day, time(0), tzinfo=UTC) - offset
            self._midnights[day] = midnight
        return midnight + timedelta(minutes=minute)


class Diary:
    """Free and booked time of `clinicians` clinicians (numbered from 0)."""

    def __init__(self, clinicians: int, rng: random.Random):
        self.clinicians = clinicians
        self.rng = rng
        self._busy: dict[tuple[int, int], int] = {}

    def book(self, clinician: int, earliest: date, minutes: int) -> tuple[int, date, int]:
        """Reserve `minutes` on the first day from `earliest` that has room: the patient's own clinician
        first, then any other. Returns (clinician, day, minute of the day)."""
        units = -(-minutes // UNIT_MINUTES)
        order = [clinician] + [other for other in range(self.clinicians) if other != clinician]
        day = next_working_day(earliest)
        while True:
            for candidate in order:
                for found_day in self._working_days(day, DAYS_SEARCHED):
                    unit = self._place(candidate, found_day, units)
                    if unit is not None:
                        return candidate, found_day, unit_minute(unit)
            day = next_working_day(day + timedelta(days=DAYS_SEARCHED))

    def random_time(self, minutes: int) -> int:
        """A start time anywhere in working hours, booked or not (for cancelled appointments)."""
        units = -(-minutes // UNIT_MINUTES)
        first, end, _ = self.rng.choice(BLOCKS)
        return unit_minute(self.rng.randrange(first, end - units + 1))

    def mark_busy(self, clinician: int, day: date, start_minute: int, end_minute: int) -> None:
        """Take existing appointments out of the free time (used when appending to a seeded database)."""
        key = (clinician, day.toordinal())
        mask = self._busy.get(key, 0)
        for unit in range(UNITS_PER_DAY):
            unit_start = unit_minute(unit)
            if unit_start < end_minute and start_minute < unit_start + UNIT_MINUTES:
                mask |= 1 << unit
        self._busy[key] = mask

    @property
    def booked_units(self) -> int:
        return sum(mask.bit_count() for mask in self._busy.values())

    @staticmethod
    def _working_days(first: date, count: int) -> Iterable[date]:
        day = first
        for _ in range(count):
            day = next_working_day(day)
            yield day
            day += timedelta(days=1)

    def _place(self, clinician: int, day: date, units: int) -> int | None:
        key = (clinician, day.toordinal())
        mask = self._busy.get(key, 0)
        want = (1 << units) - 1
        starts = _starts_for(units)
        for _ in range(RANDOM_TRIES):
            unit = self.rng.choice(starts)
            if not (mask >> unit) & want:
                self._busy[key] = mask | (want << unit)
                return unit
        offset = self.rng.randrange(len(starts))
        for unit in starts[offset:] + starts[:offset]:
            if not (mask >> unit) & want:
                self._busy[key] = mask | (want << unit)
                return unit
        return None


def unit_minute(unit: int) -> int:
    """Minute of the day at which grid unit `unit` starts."""
    for first, end, minute in BLOCKS:
        if first <= unit < end:
            return minute + (unit - first) * UNIT_MINUTES
    raise ValueError(f"unit {unit} is outside the working day")


_STARTS: dict[int, list[int]] = {}


def _starts_for(units: int) -> list[int]:
    """Grid units where an appointment of `units` can start without running past the end of a block."""
    if units not in _STARTS:
        _STARTS[units] = [unit for first, end, _ in BLOCKS for unit in range(first, end - units + 1)]
    return _STARTS[units]
