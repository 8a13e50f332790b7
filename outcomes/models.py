"""What patients report between visits, and when the clinic asks for it.

A `MeasureSchedule` row says which measures are asked at one moment of a course (before each session, at its end,
or some days after it ended); a `MeasureRequest` is one patient being asked once, for one course (and, before a
session, one appointment); a `PatientReport` is their answer, as they gave it: the database refuses any change to
it, so staff can read it beside their own scores but never edit it."""

import secrets
from decimal import Decimal

import pgtrigger
from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from assessments.models import PGIC, score_in_range
from assessments.scores import peg_score
from patients.models import Patient
from pit_portal.history import track_changes

LINK_NONCE_BYTES = 16
MAX_DAYS_AFTER_COURSE = 730


class Moment(models.TextChoices):
    BEFORE_SESSION = "before_session", "Before each session"
    COURSE_END = "course_end", "At the end of a course"
    AFTER_COURSE = "after_course", "After a course has ended"


class MeasureSchedule(models.Model):
    """Which measures the clinic asks at one moment. Managers edit these rows; requests copy what they ask, so a
    later change never alters a request already made."""

    moment = models.CharField(max_length=15, choices=Moment.choices)
    days_after_course = models.PositiveSmallIntegerField(
        "days after the course ended", null=True, blank=True, help_text="Only for a moment after the course."
    )
    ask_nrs = models.BooleanField("pain now and average pain (NRS)", default=True)
    ask_peg = models.BooleanField("PEG: enjoyment of life and general activity", default=True)
    ask_pgic = models.BooleanField("impression of change (PGIC)", default=False)
    ask_further_treatment = models.BooleanField("whether further treatment was needed", default=False)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["moment", "days_after_course"]
        constraints = [
            models.UniqueConstraint(fields=["moment", "days_after_course"], nulls_distinct=False, name="schedule_once"),
            models.CheckConstraint(
                condition=Q(moment=Moment.AFTER_COURSE, days_after_course__isnull=False)
                | (~Q(moment=Moment.AFTER_COURSE) & Q(days_after_course__isnull=True)),
                name="schedule_days_only_after_course",
            ),
            score_in_range("days_after_course", 1, MAX_DAYS_AFTER_COURSE),
            models.CheckConstraint(
                condition=Q(ask_nrs=True) | Q(ask_peg=True) | Q(ask_pgic=True) | Q(ask_further_treatment=True),
                name="schedule_asks_something",
            ),
        ]

    def __str__(self) -> str:
        if self.moment == Moment.AFTER_COURSE:
            return f"{self.days_after_course} days after a course"
        return self.get_moment_display()


def new_link_nonce() -> str:
    """The random part of a request's link: the link is refused unless it carries this row's nonce."""
    return secrets.token_hex(LINK_NONCE_BYTES)


@track_changes()
class MeasureRequest(models.Model):
    """One patient asked once. Made when it becomes owed (a course closed, an appointment coming up) and emailed by
    the worker once `due_at` has come; a live request is unique per course, moment and appointment, so a beat run
    twice asks once. The emailed link carries a signed id and `link_nonce`; only the row says whether it still
    works (answered, cancelled or expired: it does not)."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="measure_requests")
    course = models.ForeignKey("treatments.TreatmentCourse", on_delete=models.PROTECT, related_name="measure_requests")
    appointment = models.ForeignKey(
        "scheduling.Appointment", null=True, blank=True, on_delete=models.PROTECT, related_name="measure_requests"
    )
    moment = models.CharField(max_length=15, choices=Moment.choices)
    days_after_course = models.PositiveSmallIntegerField(null=True, blank=True)
    ask_nrs = models.BooleanField()
    ask_peg = models.BooleanField()
    ask_pgic = models.BooleanField()
    ask_further_treatment = models.BooleanField()
    due_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    link_nonce = models.CharField(max_length=32, default=new_link_nonce, editable=False)
    sent_at = models.DateTimeField(null=True, blank=True)
    reminded_at = models.DateTimeField(null=True, blank=True)
    not_sent_reason = models.CharField(max_length=200, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancel_reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["due_at", "id"]
        indexes = [
            models.Index(
                fields=["due_at"],
                condition=Q(sent_at__isnull=True, cancelled_at__isnull=True, answered_at__isnull=True),
                name="request_unsent_due",
            ),
            models.Index(
                fields=["sent_at"],
                condition=Q(reminded_at__isnull=True, cancelled_at__isnull=True, answered_at__isnull=True),
                name="request_unanswered_sent",
            ),
            models.Index(fields=["course", "moment"], name="request_course_moment"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["course", "moment", "days_after_course", "appointment"],
                condition=Q(cancelled_at__isnull=True),
                nulls_distinct=False,
                name="request_once_while_live",
            ),
            models.CheckConstraint(condition=Q(expires_at__gt=F("due_at")), name="request_expires_after_due"),
            models.CheckConstraint(
                condition=Q(answered_at__isnull=True) | Q(cancelled_at__isnull=True),
                name="request_answered_or_cancelled",
            ),
            models.CheckConstraint(
                condition=Q(cancelled_at__isnull=True) | ~Q(cancel_reason=""), name="request_cancel_needs_reason"
            ),
            models.CheckConstraint(
                condition=Q(moment=Moment.BEFORE_SESSION, appointment__isnull=False)
                | (~Q(moment=Moment.BEFORE_SESSION) & Q(appointment__isnull=True)),
                name="request_appointment_only_before_session",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_moment_display()} measures for course {self.course_id}"

    @property
    def label(self) -> str:
        if self.moment == Moment.AFTER_COURSE:
            return f"{months_label(self.days_after_course)} after the course"
        return self.get_moment_display().replace("each ", "the ")


def months_label(days: int | None) -> str:
    """91 days is "3 months", 182 "6 months"; under two months the days are named."""
    if days is None:
        return ""
    months = round(days / 30.44)
    return f"{months} months" if months >= 2 else f"{days} days"


class EnteredVia(models.TextChoices):
    PORTAL = "portal", "Patient portal"
    LINK = "link", "Emailed link"


class PatientReport(models.Model):
    """What the patient answered, as they answered it. PEG's pain item is the NRS average (one answer, as on the
    assessment). A trigger refuses UPDATE and DELETE: what a patient reported is never edited by anyone."""

    request = models.OneToOneField(MeasureRequest, on_delete=models.PROTECT, related_name="report")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="reports")
    course = models.ForeignKey("treatments.TreatmentCourse", on_delete=models.PROTECT, related_name="reports")
    nrs_now = models.PositiveSmallIntegerField("pain now (0-10)", null=True, blank=True)
    nrs_average = models.PositiveSmallIntegerField("average pain, past week (0-10)", null=True, blank=True)
    peg_enjoyment = models.PositiveSmallIntegerField(
        "pain interfered with enjoyment of life (0-10)", null=True, blank=True
    )
    peg_activity = models.PositiveSmallIntegerField(
        "pain interfered with general activity (0-10)", null=True, blank=True
    )
    pgic = models.PositiveSmallIntegerField("impression of change", choices=PGIC.choices, null=True, blank=True)
    further_treatment = models.BooleanField("needed further treatment", null=True, blank=True)
    entered_via = models.CharField(max_length=10, choices=EnteredVia.choices)
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    submitted_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["submitted_at", "id"]
        # The outcomes report counts what patients answered (with the clinic's own scores), course by course.
        permissions = [("view_outcomes_report", "Can view the outcomes report")]
        indexes = [models.Index(fields=["course", "submitted_at"], name="report_course_time")]
        constraints = [
            score_in_range("nrs_now"),
            score_in_range("nrs_average"),
            score_in_range("peg_enjoyment"),
            score_in_range("peg_activity"),
            score_in_range("pgic", 1, 7),
            models.CheckConstraint(
                condition=Q(peg_enjoyment__isnull=True, peg_activity__isnull=True)
                | Q(peg_enjoyment__isnull=False, peg_activity__isnull=False, nrs_average__isnull=False),
                name="report_peg_complete",
            ),
            models.CheckConstraint(
                condition=Q(entered_via=EnteredVia.PORTAL, entered_by__isnull=False)
                | Q(entered_via=EnteredVia.LINK, entered_by__isnull=True),
                name="report_portal_answers_name_the_user",
            ),
        ]
        triggers = [
            pgtrigger.Protect(name="report_never_changes", operation=pgtrigger.Update | pgtrigger.Delete),
        ]

    def __str__(self) -> str:
        return f"Patient report for course {self.course_id}, {self.submitted_at:%d/%m/%Y}"

    @property
    def peg_score(self) -> Decimal | None:
        """PEG-3 of average pain, enjoyment and activity; None unless all three were asked."""
        return peg_score(self.nrs_average, self.peg_enjoyment, self.peg_activity)


class ExportStatus(models.TextChoices):
    PENDING = "pending", "Waiting for the worker"
    RUNNING = "running", "Being prepared"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


LIVE_EXPORT = (ExportStatus.PENDING, ExportStatus.RUNNING)


class RegistryExport(models.Model):
    """One de-identified registry export (outcomes.registry): asked for by a manager, built by the worker into a
    zip in private document storage. The row is the source of truth for the work owed: the sweeper sends again
    an export left pending, or held past the time limit by a worker that died (`claimed_at`)."""

    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(default=timezone.now)
    started_from = models.DateField("courses started from", null=True, blank=True)
    started_to = models.DateField("courses started up to", null=True, blank=True)
    status = models.CharField(max_length=10, choices=ExportStatus.choices, default=ExportStatus.PENDING)
    rows_done = models.PositiveIntegerField(default=0)
    rows_total = models.PositiveIntegerField(null=True, blank=True, help_text="Courses in the period, once counted.")
    attempts = models.PositiveSmallIntegerField(default=0)
    enqueued_at = models.DateTimeField(null=True, blank=True, help_text="When it was last sent to the worker.")
    # Set by the run building it, cleared when that run ends: a run that holds it past the stale threshold died.
    claimed_at = models.DateTimeField(null=True, blank=True)
    # While pending: the last failure, which may clear by itself; when failed, why. Never patient data.
    error = models.CharField(max_length=300, blank=True)
    file_name = models.CharField(max_length=200, blank=True, help_text="Name in private document storage.")
    sha256 = models.CharField(max_length=64, blank=True)
    size_bytes = models.PositiveBigIntegerField(null=True, blank=True)
    ready_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        indexes = [models.Index(fields=["status", "enqueued_at"], name="registry_export_sweep")]
        constraints = [
            models.CheckConstraint(
                condition=Q(started_from__isnull=True)
                | Q(started_to__isnull=True)
                | Q(started_from__lte=F("started_to")),
                name="registry_export_period_in_order",
            ),
            models.CheckConstraint(
                condition=Q(rows_total__isnull=True) | Q(rows_done__lte=F("rows_total")),
                name="registry_export_progress_within_total",
            ),
            models.CheckConstraint(
                condition=~Q(status=ExportStatus.READY)
                | (~Q(file_name="") & ~Q(sha256="") & Q(size_bytes__isnull=False, rows_total__isnull=False)),
                name="registry_export_ready_has_file",
            ),
            models.CheckConstraint(
                condition=~Q(status=ExportStatus.FAILED) | ~Q(error=""), name="registry_export_failure_explained"
            ),
            models.CheckConstraint(
                condition=Q(status=ExportStatus.RUNNING, claimed_at__isnull=False)
                | (~Q(status=ExportStatus.RUNNING) & Q(claimed_at__isnull=True)),
                name="registry_export_claimed_while_running",
            ),
            # One export being prepared per manager: a second click waits for the first.
            models.UniqueConstraint(
                fields=["requested_by"], condition=Q(status__in=LIVE_EXPORT), name="registry_export_one_live_each"
            ),
        ]

    def __str__(self) -> str:
        return f"Registry export {self.pk} ({self.get_status_display().lower()})"

    @property
    def is_live(self) -> bool:
        return self.status in LIVE_EXPORT

    @property
    def is_ready(self) -> bool:
        return self.status == ExportStatus.READY

    @property
    def period_label(self) -> str:
        start, end = self.started_from, self.started_to
        if start and end:
            return f"{start:%d/%m/%Y} to {end:%d/%m/%Y}"
        if start:
            return f"from {start:%d/%m/%Y}"
        if end:
            return f"up to {end:%d/%m/%Y}"
        return "all courses"

    @property
    def progress(self) -> str:
        """How far its run has got, in courses: "1,200 of 3,400 courses"."""
        if self.rows_total is None:
            return "waiting to start"
        return f"{self.rows_done:,} of {self.rows_total:,} course{'' if self.rows_total == 1 else 's'}"
