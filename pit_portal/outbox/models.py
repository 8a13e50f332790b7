from django.db import models
from django.db.models import Q


class EmailKind(models.TextChoices):
    AFTERCARE_READY = "aftercare_ready", "Aftercare sheet ready"
    REMINDER = "reminder", "Appointment reminder"
    RESCHEDULED = "rescheduled", "Appointment moved"
    CANCELLED = "cancelled", "Appointment cancelled"
    INVITATION = "invitation", "Portal invitation"
    DESK_CANCELLATION = "desk_cancellation", "Online cancellation, to the front desk"
    PASSWORD_RESET = "password_reset", "Password reset"
    MEASURE_REQUEST = "measure_request", "Between-visit questions"
    MEASURE_REMINDER = "measure_reminder", "Between-visit questions, reminder"
    CONSENT_WITHDRAWN = "consent_withdrawn", "Consent withdrawn, to the clinic"
    RECORD_COPY_READY = "record_copy_ready", "Copy of the record ready"


class EmailStatus(models.TextChoices):
    PENDING = "pending", "To send"
    SENT = "sent", "Sent"
    NOT_SENT = "not_sent", "Not sent: no longer applies"
    FAILED = "failed", "Failed"


class OutboxEmail(models.Model):
    """An email the portal owes, written in the transaction of the change that owes it, then sent by the worker.

    The row, not the broker, is the source of truth: a message the broker lost is sent again by the sweeper, and
    a settled row is never sent again. It holds ids only (`object_id` names the visit, appointment, invitation or
    user the email is about), never an address, a name or a token: those are read or made when it is sent.
    `dedupe_key` is unique, so the same owed email is recorded once however many times it is asked for."""

    kind = models.CharField(max_length=20, choices=EmailKind.choices)
    object_id = models.PositiveBigIntegerField()
    dedupe_key = models.CharField(max_length=120, unique=True)
    status = models.CharField(max_length=10, choices=EmailStatus.choices, default=EmailStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    enqueued_at = models.DateTimeField(null=True, blank=True, help_text="When it was last sent to the worker.")
    settled_at = models.DateTimeField(null=True, blank=True, help_text="When it was sent, or found not to apply.")

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "email owed"
        verbose_name_plural = "emails owed"
        indexes = [models.Index(fields=["status", "enqueued_at"], name="outbox_pending_sweep")]
        constraints = [
            models.CheckConstraint(
                condition=Q(status=EmailStatus.PENDING, settled_at__isnull=True)
                | (~Q(status=EmailStatus.PENDING) & Q(settled_at__isnull=False)),
                name="outbox_settled_when_done",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} email for {self.object_id}: {self.get_status_display()}"
