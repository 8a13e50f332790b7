"""No double booking, however many desks try at once: the exclusion constraint has the last word."""

import threading
from datetime import timedelta

import psycopg
import pytest
from django.db import IntegrityError, OperationalError, connection, transaction

from scheduling.models import Appointment, AppointmentStatus
from scheduling.services import DEADLOCK_RETRIES, SlotTaken, _retrying_deadlocks, appointment_book
from tests.factories import PatientFactory
from tests.scheduling.followup_helpers import appointment, at, next_weekday, pit_type, working_clinician

ATTEMPTS = 20


def _attempt(barrier: threading.Barrier, outcomes: list, **booking) -> None:
    """One desk in its own thread, so on its own database connection, closed at the end."""
    try:
        barrier.wait(timeout=30)
        outcomes.append(appointment_book(**booking))
    except SlotTaken as taken:
        outcomes.append(taken)
    except Exception as error:  # anything else is a failure the test reports
        outcomes.append(error)
    finally:
        connection.close()


@pytest.mark.django_db(transaction=True)
def test_twenty_desks_booking_one_slot_at_once_get_one_booking_and_nineteen_friendly_refusals():
    clinician = working_clinician(username="concurrent-clinician")
    kind = pit_type()
    starts_at = at(next_weekday(1), 10)  # a Tuesday next week, 10:00
    patients = [PatientFactory() for _ in range(ATTEMPTS)]
    barrier = threading.Barrier(ATTEMPTS)
    outcomes: list = []
    threads = [
        threading.Thread(
            target=_attempt,
            args=(barrier, outcomes),
            kwargs={
                "patient": patient,
                "clinician": clinician,
                "appointment_type": kind,
                "starts_at": starts_at,
                "by": clinician,
            },
        )
        for patient in patients
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not any(thread.is_alive() for thread in threads)
    booked = [outcome for outcome in outcomes if isinstance(outcome, Appointment)]
    refused = [outcome for outcome in outcomes if isinstance(outcome, SlotTaken)]
    assert (len(booked), len(refused)) == (1, ATTEMPTS - 1), [o for o in outcomes if not isinstance(o, SlotTaken)]
    for refusal in refused:
        assert refusal.code == "slot_taken"
        assert "already booked" in refusal.messages[0]
        assert refusal.alternatives, "a refusal offers the nearest free slots"
        assert all(slot.starts_at != starts_at for slot in refusal.alternatives)
    live = Appointment.objects.filter(clinician=clinician, starts_at__lt=starts_at + timedelta(minutes=20))
    live = live.filter(ends_at__gt=starts_at).exclude(status=AppointmentStatus.CANCELLED)
    assert list(live) == booked


# --- The constraint itself, without the service ----------------------------------------------------------------


@pytest.fixture
def clinician_with_ten_oclock(db):
    clinician = working_clinician(username="constraint-clinician")
    starts_at = at(next_weekday(2), 10)
    appointment(starts_at, clinician=clinician, patient=PatientFactory())
    return clinician, starts_at


def _row(clinician, starts_at, minutes: int = 20, status: str = AppointmentStatus.BOOKED) -> Appointment:
    return Appointment(
        patient=PatientFactory(),
        clinician=clinician,
        appointment_type=pit_type(),
        starts_at=starts_at,
        ends_at=starts_at + timedelta(minutes=minutes),
        status=status,
        cancel_reason="Unwell" if status == AppointmentStatus.CANCELLED else "",
        created_by=clinician,
    )


def test_the_orm_bypassing_the_service_cannot_overlap(clinician_with_ten_oclock):
    clinician, starts_at = clinician_with_ten_oclock
    with pytest.raises(IntegrityError, match="appointment_no_double_booking"), transaction.atomic():
        _row(clinician, starts_at + timedelta(minutes=10)).save()
    assert Appointment.objects.filter(clinician=clinician).count() == 1


def test_raw_sql_cannot_overlap_either(clinician_with_ten_oclock):
    clinician, starts_at = clinician_with_ten_oclock
    template = Appointment.objects.get(clinician=clinician)
    sql = """
        INSERT INTO scheduling_appointment (patient_id, clinician_id, appointment_type_id, starts_at, ends_at, status,
            cancel_reason, notes, outside_hours_reason, created_by_id, created_at, updated_at)
        VALUES (%s, %s, %s, %s, %s, 'booked', '', '', '', %s, now(), now())
    """
    params = [template.patient_id, clinician.pk, template.appointment_type_id]
    params += [starts_at - timedelta(minutes=5), starts_at + timedelta(minutes=5), clinician.pk]
    with (
        pytest.raises(IntegrityError, match="appointment_no_double_booking"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql, params)
    assert Appointment.objects.filter(clinician=clinician).count() == 1


def test_back_to_back_appointments_do_not_overlap(clinician_with_ten_oclock):
    clinician, starts_at = clinician_with_ten_oclock
    _row(clinician, starts_at + timedelta(minutes=20)).save()  # starts as the ten o'clock ends: '[)' bounds
    _row(clinician, starts_at - timedelta(minutes=20)).save()  # ends as it starts
    assert Appointment.objects.filter(clinician=clinician).count() == 3


def test_cancelled_appointments_do_not_hold_the_slot(clinician_with_ten_oclock):
    clinician, starts_at = clinician_with_ten_oclock
    Appointment.objects.filter(clinician=clinician).update(status=AppointmentStatus.CANCELLED, cancel_reason="Unwell")
    _row(clinician, starts_at).save()
    # ...and a cancelled row may sit on top of a live one.
    _row(clinician, starts_at, status=AppointmentStatus.CANCELLED).save()
    assert Appointment.objects.filter(clinician=clinician, starts_at=starts_at).count() == 3


def test_another_clinician_may_be_booked_at_the_same_time(clinician_with_ten_oclock):
    _, starts_at = clinician_with_ten_oclock
    colleague = working_clinician(username="constraint-colleague")
    _row(colleague, starts_at).save()
    assert Appointment.objects.filter(starts_at=starts_at).count() == 2


# --- A deadlock between two bookings of the same time is tried again --------------------------------------------


def _deadlock() -> OperationalError:
    """What Django raises when PostgreSQL ends one of two deadlocked transactions."""
    error = OperationalError("deadlock detected")
    error.__cause__ = psycopg.errors.DeadlockDetected("deadlock detected")
    return error


def _failing(times: int, error: Exception, result: str = "booked") -> tuple[list, object]:
    calls = []

    def attempt():
        calls.append(1)
        if len(calls) <= times:
            raise error
        return result

    return calls, attempt


def test_a_booking_ended_by_a_deadlock_is_tried_again():
    calls, attempt = _failing(2, _deadlock())
    assert _retrying_deadlocks(attempt) == "booked"
    assert len(calls) == 3


def test_a_booking_still_deadlocked_after_the_retries_gives_up_with_the_error():
    calls, attempt = _failing(DEADLOCK_RETRIES + 1, _deadlock())
    with pytest.raises(OperationalError):
        _retrying_deadlocks(attempt)
    assert len(calls) == DEADLOCK_RETRIES + 1


def test_other_database_errors_are_not_tried_again():
    calls, attempt = _failing(1, OperationalError("server closed the connection"))
    with pytest.raises(OperationalError):
        _retrying_deadlocks(attempt)
    assert len(calls) == 1
