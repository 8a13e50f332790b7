from datetime import date, datetime, timedelta

from django.conf import settings
from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import DateTimeRangeField, RangeOperators
from django.db import models
from django.db.models import Func, Q, Value

from patients.models import EARLIEST_MOMENT, Patient
from pit_portal.history import track_changes

MAX_APPOINTMENT_MINUTES = 8 * 60
MAX_APPOINTMENT_LENGTH = timedelta(minutes=MAX_APPOINTMENT_MINUTES)


def overlapping(start: datetime, end: datetime) -> Q:
    """Appointments that overlap [start, end). The lower bound on starts_at adds nothing logically (no
    appointment is longer than MAX_APPOINTMENT_LENGTH, a database check) but lets an index on starts_at
    read just that stretch of the diary instead of everything before `end`, back to the clinic's first day."""
    return Q(starts_at__lt=end, ends_at__gt=start, starts_at__gt=start - MAX_APPOINTMENT_LENGTH)


class TsTzRange(Func):
    """PostgreSQL's tstzrange(start, end, '[)'): an appointment owns its start, not its end,
    so back-to-back appointments do not overlap."""

    function = "TSTZRANGE"
    output_field = DateTimeRangeField()

    def __init__(self, start, end, **extra):
        super().__init__(start, end, models.Value("[)"), **extra)


class Weekday(models.IntegerChoices):
    MONDAY = 0, "Monday"
    TUESDAY = 1, "Tuesday"
    WEDNESDAY = 2, "Wednesday"
    THURSDAY = 3, "Thursday"
    FRIDAY = 4, "Friday"
    SATURDAY = 5, "Saturday"
    SUNDAY = 6, "Sunday"


class WorkingHours(models.Model):
    """One block of a clinician's working week; a break is the gap between two blocks of a day."""

    clinician = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="working_hours")
    weekday = models.PositiveSmallIntegerField(choices=Weekday.choices)
    starts = models.TimeField()
    ends = models.TimeField()

    class Meta:
        ordering = ["clinician", "weekday", "starts"]
        verbose_name_plural = "working hours"
        constraints = [
            models.CheckConstraint(condition=Q(ends__gt=models.F("starts")), name="workinghours_ends_after_start"),
            models.CheckConstraint(condition=Q(weekday__gte=0, weekday__lte=6), name="workinghours_weekday_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.starts:%H:%M}-{self.ends:%H:%M}"


class TimeOff(models.Model):
    """Leave for one clinician, or a clinic holiday when no clinician is given."""

    clinician = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="time_off"
    )
    starts_on = models.DateField()
    ends_on = models.DateField(help_text="Last day off, inclusive.")
    reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["starts_on"]
        verbose_name_plural = "time off"
        constraints = [
            models.CheckConstraint(condition=Q(ends_on__gte=models.F("starts_on")), name="timeoff_ends_after_start")
        ]

    def __str__(self) -> str:
        who = self.clinician or "Whole clinic"
        return f"{who}: {self.starts_on:%d/%m/%Y} to {self.ends_on:%d/%m/%Y}"


class AppointmentType(models.Model):
    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=80, unique=True)
    duration_minutes = models.PositiveSmallIntegerField()
    colour = models.CharField(max_length=7, default="#0d6efd", help_text="A #rrggbb colour for the calendar.")
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(duration_minutes__gte=5, duration_minutes__lte=MAX_APPOINTMENT_MINUTES),
                name="appointmenttype_duration_in_range",
            ),
            models.CheckConstraint(condition=Q(colour__regex=r"^#[0-9a-fA-F]{6}$"), name="appointmenttype_colour_hex"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.duration_minutes} min)"


class AppointmentStatus(models.TextChoices):
    BOOKED = "booked", "Booked"
    ARRIVED = "arrived", "Arrived"
    IN_TREATMENT = "in_treatment", "In treatment"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"
    NO_SHOW = "no_show", "Did not attend"


@track_changes()
class Appointment(models.Model):
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="appointments")
    clinician = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="appointments")
    appointment_type = models.ForeignKey(AppointmentType, on_delete=models.PROTECT, related_name="+")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    status = models.CharField(max_length=12, choices=AppointmentStatus.choices, default=AppointmentStatus.BOOKED)
    cancel_reason = models.CharField(max_length=300, blank=True)
    course = models.ForeignKey(
        "treatments.TreatmentCourse", null=True, blank=True, on_delete=models.SET_NULL, related_name="appointments"
    )
    session = models.OneToOneField(
        "treatments.InjectionSession", null=True, blank=True, on_delete=models.SET_NULL, related_name="appointment"
    )
    notes = models.CharField(max_length=500, blank=True)
    outside_hours_reason = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["starts_at"]
        permissions = [("override_working_hours", "Can book outside working hours, with a reason")]
        indexes = [
            models.Index(fields=["clinician", "starts_at"], name="appointment_clinician_start"),
            models.Index(fields=["patient", "starts_at"], name="appointment_patient_start"),
            models.Index(fields=["starts_at"], name="appointment_start"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(ends_at__gt=models.F("starts_at")), name="appointment_ends_after_start"),
            models.CheckConstraint(condition=Q(starts_at__gte=EARLIEST_MOMENT), name="appointment_after_1900"),
            # What overlapping() relies on to find a day's appointments by an index range.
            models.CheckConstraint(
                condition=Q(ends_at__lte=models.F("starts_at") + MAX_APPOINTMENT_LENGTH),
                name="appointment_length_bounded",
            ),
            models.CheckConstraint(
                condition=~Q(status=AppointmentStatus.CANCELLED) | ~Q(cancel_reason=""),
                name="appointment_cancelled_needs_reason",
            ),
            # No clinician is ever booked twice at once, however many front-desk screens are open.
            ExclusionConstraint(
                name="appointment_no_double_booking",
                expressions=[
                    ("clinician", RangeOperators.EQUAL),
                    (TsTzRange("starts_at", "ends_at"), RangeOperators.OVERLAPS),
                ],
                condition=~Q(status=AppointmentStatus.CANCELLED),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.patient.full_name} with {self.clinician} at {self.starts_at:%d/%m/%Y %H:%M}"

    @property
    def is_live(self) -> bool:
        return self.status != AppointmentStatus.CANCELLED


class ReminderSent(models.Model):
    """One row per reminder email: a second run of the reminder job finds it and sends nothing.
    Keyed on the start time, so a rescheduled appointment gets a fresh reminder."""

    appointment = models.ForeignKey(Appointment, on_delete=models.CASCADE, related_name="reminders")
    starts_at = models.DateTimeField()
    sent_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["appointment", "starts_at"], name="reminder_once_per_start_time")
        ]

    def __str__(self) -> str:
        return f"Reminder for appointment {self.appointment_id} at {self.starts_at:%d/%m/%Y %H:%M}"


# The row whose version moves with every change that can show on any day.
ALL_DAYS = date(1, 1, 1)


class DiaryVersion(models.Model):
    """How far what the calendars show of one day has changed: the key the calendars are cached under
    (scheduling.views.calendar_cache). Written only by database triggers (migrations 0005 and 0007), so a change
    made any way at all (a view, the administration site, a bulk update, raw SQL) moves it.

    An appointment's change moves the rows of the days, in UTC, on which it started and ended, before the change
    and after; a change that can show on any day (a patient's or clinician's name, an appointment type, working
    hours, time off) moves the ALL_DAYS row. Each new version is taken from a sequence, which PostgreSQL never
    hands out twice, even to a transaction that rolls back: a page cached under a version that was rolled back
    can never be found again under a later one."""

    day = models.DateField(primary_key=True)
    version = models.BigIntegerField()

    def __str__(self) -> str:
        return f"Diary of {self.day}: version {self.version}"


def diary_changed_on_every_day() -> None:
    """Move the ALL_DAYS version by hand, for rows written with the triggers off (manage.py seed_scale)."""
    next_version = Func(Value("scheduling_diary_version_seq"), function="nextval")
    DiaryVersion.objects.filter(day=ALL_DAYS).update(version=next_version)
