"""The calendar grid away from the pages: the diary's query."""

from datetime import timedelta

import pytest

from accounts.models import Role
from scheduling.views import grid
from tests.factories import UserFactory
from tests.scheduling.factories import AppointmentFactory, at, tomorrow


@pytest.mark.parametrize("how_many", [1, 2, 17])
def test_the_diary_reads_the_shown_clinicians_appointments_of_the_day(db, how_many):
    staff = [UserFactory(role=Role.CLINICIAN) for _ in range(how_many)]
    outsider = UserFactory(role=Role.CLINICIAN)
    day = tomorrow()
    for index, clinician in enumerate([*staff, outsider]):
        AppointmentFactory(clinician=clinician, starts_at=at(day, 9) + timedelta(minutes=5 * index))
        AppointmentFactory(clinician=clinician, starts_at=at(day + timedelta(days=1), 9))  # the next day
    found = grid.diary_appointments([c.pk for c in staff], grid.aware(day), grid.aware(day + timedelta(days=1)))
    assert [appointment.clinician_id for appointment in found] == [c.pk for c in staff]  # in time order
