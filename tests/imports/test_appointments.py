"""A file of future appointments: each booked through the booking service, or skipped with the reason."""

from datetime import date, time, timedelta

import pytest

from accounts.models import Role
from imports.models import ImportedAppointment, ImportStatus
from scheduling.models import Appointment
from tests.factories import PatientFactory, UserFactory
from tests.imports.helpers import checked, csv_bytes, dmy, imported, problems_by_row, uploaded
from tests.scheduling.factories import AppointmentFactory, appointment_type, at, every_day, tomorrow

pytestmark = pytest.mark.django_db

HEADER = ["Appointment ID", "Patient First Name", "Patient Last Name", "Patient Date of Birth", "Practitioner",
          "Appointment Start", "Duration", "Appointment Type"]  # fmt: skip


@pytest.fixture
def diary():
    clinician = UserFactory(role=Role.CLINICIAN, first_name="Maya", last_name="Fenwick")
    every_day(clinician, starts=time(9), ends=time(17))
    patient = PatientFactory(given_name="Ann", family_name="Lee", date_of_birth=date(1970, 3, 2))
    AppointmentFactory(clinician=clinician, starts_at=at(tomorrow(), 14))  # 14:00-14:15, a review
    return clinician, patient


def row(external_id: str, start: str, *, who="Ann,Lee,02/03/1970", clinician="Maya Fenwick", minutes="15",
        kind="Review") -> list[str]:  # fmt: skip
    return [external_id, *who.split(","), clinician, start, minutes, kind]


DAY = dmy(tomorrow())
YESTERDAY = dmy(date.today() - timedelta(days=1))
ROWS = [
    (row("a1", f"{DAY} 10:00"), None),
    (row("a2", f"{DAY} 11:00", clinician="Dr Who"), ["Unknown clinician “Dr Who”"]),
    (row("a3", f"{YESTERDAY} 10:00"), ["In the past"]),
    (row("a4", f"{DAY} 07:00"), ["Outside the clinician's working hours"]),
    (row("a5", f"{DAY} 14:05"), ["already booked then, by an appointment already in the diary"]),
    (row("a6", f"{DAY} 10:10"), ["already booked then, by row 2 of this file"]),
    (row("a7", f"{DAY} 12:00", who="Nobody,Known,01/01/1950"), ["No registered patient has this name"]),
    (row("a8", f"{DAY} 12:30", minutes="45"), ["Lasts 45 minutes, but a Review lasts 15"]),
    (row("a9", "32/13/2030 10:00"), ["is not a date and time"]),
    (row("a10", f"{DAY} 15:00", kind="Massage"), ["Unknown appointment type “Massage”"]),
    (row("a11", f"{DAY} 16:00"), None),
]


def test_the_preview_lists_each_appointment_s_problems_and_the_import_books_the_rest(manager_client, diary):
    clinician, patient = diary
    appointment_type("review").__class__.objects.filter(code="review").update(name="Review")
    content = csv_bytes(HEADER, [values for values, _ in ROWS])
    csv_import = checked(manager_client, uploaded(manager_client, content, kind="appointments"))
    assert csv_import.source_system == "cliniko"
    found = problems_by_row(csv_import)
    for number, (_, expected) in enumerate(ROWS, start=2):
        if expected is None:
            assert found[number] == [], (number, found[number])
        else:
            assert all(words in " ".join(found[number]) for words in expected), (number, found[number])
    csv_import = imported(manager_client, csv_import)
    assert (csv_import.status, csv_import.created_count) == (ImportStatus.DONE, 2)
    booked = Appointment.objects.filter(imported_as__isnull=False).order_by("starts_at")
    assert [a.starts_at for a in booked] == [at(tomorrow(), 10), at(tomorrow(), 16)]
    assert {a.patient_id for a in booked} == {patient.pk} and {a.clinician_id for a in booked} == {clinician.pk}

    again = imported(manager_client, checked(manager_client, uploaded(manager_client, content, kind="appointments")))
    assert again.created_count == 0 and ImportedAppointment.objects.count() == 2
    assert problems_by_row(again)[2] == ["Already imported."]
