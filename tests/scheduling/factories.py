"""Factories for the diary: working hours, time off, appointment types and appointments.

AppointmentFactory writes rows straight into the table (no working-hours or past-time checks),
so tests can set up any day; the booking views under test go through the services."""

from datetime import date, datetime, time, timedelta

import factory
from django.utils import timezone

from accounts.models import Role, User
from scheduling.models import Appointment, AppointmentStatus, AppointmentType, TimeOff, WorkingHours
from tests.factories import PatientFactory, UserFactory


def at(day: date, hour: int, minute: int = 0) -> datetime:
    """A wall-clock time in the clinic's zone."""
    return timezone.make_aware(datetime.combine(day, time(hour, minute)))


def tomorrow() -> date:
    return timezone.localdate() + timedelta(days=1)


def local_input(moment: datetime) -> str:
    """A time as a datetime-local input sends it."""
    return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M")


def appointment_type(code: str = "review") -> AppointmentType:
    """One of the data migration's types (review 15 min, pit-session 20, new-patient-assessment 45)."""
    return AppointmentType.objects.get(code=code)


class WorkingHoursFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = WorkingHours

    clinician = factory.SubFactory(UserFactory, role=Role.CLINICIAN)
    weekday = 0
    starts = time(8)
    ends = time(18)


def every_day(clinician: User, starts: time = time(8), ends: time = time(18)) -> list[WorkingHours]:
    """Mon-Sun working hours, so "tomorrow" is always a working day."""
    return [WorkingHoursFactory(clinician=clinician, weekday=day, starts=starts, ends=ends) for day in range(7)]


class TimeOffFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TimeOff

    clinician = factory.SubFactory(UserFactory, role=Role.CLINICIAN)
    starts_on = factory.LazyFunction(tomorrow)
    ends_on = factory.LazyAttribute(lambda off: off.starts_on)
    reason = "Annual leave"


class AppointmentTypeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AppointmentType

    code = factory.Sequence(lambda n: f"type-{n}")
    name = factory.Sequence(lambda n: f"Type {n}")
    duration_minutes = 30
    colour = "#fd7e14"


class AppointmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Appointment

    patient = factory.SubFactory(PatientFactory)
    clinician = factory.SubFactory(UserFactory, role=Role.CLINICIAN)
    appointment_type = factory.LazyFunction(appointment_type)
    starts_at = factory.LazyFunction(lambda: at(tomorrow(), 10))
    ends_at = factory.LazyAttribute(lambda a: a.starts_at + timedelta(minutes=a.appointment_type.duration_minutes))
    status = AppointmentStatus.BOOKED
    cancel_reason = factory.LazyAttribute(lambda a: "Patient asked" if a.status == AppointmentStatus.CANCELLED else "")
    created_by = factory.LazyAttribute(lambda a: a.clinician)
