from django.apps import apps
from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Upper
from django.utils import timezone

# The hash a chain starts from: the previous hash of the very first row.
GENESIS_HASH = "0" * 64


class Action(models.TextChoices):
    LOGIN = "login", "Signed in"
    LOGOUT = "logout", "Signed out"
    LOGIN_FAILED = "login_failed", "Sign-in failed"
    LOCKED_OUT = "locked_out", "Locked out"
    UNLOCKED = "unlocked", "Unlocked"
    SESSION_EXPIRED = "session_expired", "Session expired"
    SESSIONS_REVOKED = "sessions_revoked", "Signed out everywhere"
    MFA_ENROLLED = "mfa_enrolled", "Second factor enrolled"
    MFA_VERIFIED = "mfa_verified", "Second factor verified"
    MFA_FAILED = "mfa_failed", "Second factor refused"
    MFA_BACKUP_CODES = "mfa_backup_codes", "Backup codes issued"
    MFA_RESET = "mfa_reset", "Second factor reset"
    ROLE_CHANGED = "role_changed", "Roles changed"
    PATIENT_VIEWED = "patient_viewed", "Patient record viewed"
    RECORD_VIEWED = "record_viewed", "Clinical record viewed"
    HISTORY_VIEWED = "history_viewed", "Change history viewed"
    DOCUMENT_RENDERED = "document_rendered", "Document generated"
    DOCUMENT_DOWNLOADED = "document_downloaded", "Document downloaded"
    DOCUMENT_SENT = "document_sent", "Document sent"
    EXPORT = "export", "Exported"
    ACCESS_DENIED = "access_denied", "Access refused"
    CSRF_FAILED = "csrf_failed", "Form refused (no CSRF token)"
    PASSWORD_RESET_REQUESTED = "password_reset_requested", "Password reset asked for"
    SIGNED_NOTE_ALTERED = "signed_note_altered", "Signed note no longer matches its signature"
    MEASURES_LINK_OPENED = "measures_link_opened", "Between-visit questions opened by emailed link"
    MEASURES_ANSWERED = "measures_answered", "Between-visit questions answered"
    CONSENT_SIGNED = "consent_signed", "Consent signed"
    CONSENT_WITHDRAWN = "consent_withdrawn", "Consent withdrawn"
    IMPORT = "import", "Imported from another system"
    DATA_REQUEST_RECORDED = "data_request_recorded", "Request about data recorded"
    DATA_REQUEST_DECIDED = "data_request_decided", "Request about data decided"
    PATIENT_ANONYMISED = "patient_anonymised", "Patient anonymised"


class Source(models.TextChoices):
    WEB = "web", "Web"
    TASK = "task", "Background task"
    COMMAND = "command", "Command"


# What an "accounting of disclosures" lists: PHI that left the clinic's hands.
DISCLOSURE_ACTIONS = (Action.DOCUMENT_DOWNLOADED, Action.DOCUMENT_SENT, Action.EXPORT)


class AuditEvent(models.Model):
    """One thing someone did or saw. Append-only: a trigger refuses UPDATE and DELETE. `mac` is an HMAC of the
    row's fields under a key kept outside the database; a trigger chains each row onto the one before it with
    `prev_hash` and `hash` (audit.chain, migrations 0002 and 0005; `manage.py audit_verify` checks both).
    Write rows with audit.services.record().

    `detail` never holds clinical content or names: ids, counts, reasons and filters only.
    """

    occurred_at = models.DateTimeField(default=timezone.now, db_index=True)
    # PROTECT: an account or patient that appears in the trail is deactivated, never deleted.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # The username as typed or as it was then: kept for failed sign-ins and renamed accounts.
    actor_username = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=40, choices=Action.choices)
    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    object_type = models.CharField(max_length=60, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.WEB)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    path = models.CharField(max_length=300, blank=True)
    prev_hash = models.CharField(max_length=64, editable=False, blank=True)
    hash = models.CharField(max_length=64, editable=False, blank=True)
    mac = models.CharField(max_length=64, editable=False, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["patient", "occurred_at"], name="audit_patient_time"),
            models.Index(fields=["actor", "occurred_at"], name="audit_actor_time"),
            models.Index(fields=["action", "occurred_at"], name="audit_action_time"),
            # The report's user filter matches the username case-insensitively, failed sign-ins included.
            models.Index(Upper("actor_username"), "occurred_at", name="audit_username_time"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(
                    prev_hash__regex=r"^[0-9a-f]{64}$", hash__regex=r"^[0-9a-f]{64}$", mac__regex=r"^[0-9a-f]{64}$"
                ),
                name="audit_event_hashes_are_hex_sha256",
            ),
        ]
        permissions = [
            ("view_history", "Can view the change history of patient records"),
            ("export_auditevent", "Can export the audit trail"),
        ]

    def __str__(self) -> str:
        return f"{self.occurred_at:%Y-%m-%d %H:%M:%S} {self.actor_username or '-'} {self.action}"

    @property
    def who(self) -> str:
        """The username, or who acted without one: the system (a task or command) or an anonymous visitor."""
        if self.actor_username:
            return self.actor_username
        return "system" if self.source != Source.WEB else "anonymous"

    @property
    def record_label(self) -> str:
        """The record the event is about: its model's name (the stored label if no model has it) and id."""
        if not self.object_type:
            return ""
        try:
            name = str(apps.get_model(self.object_type)._meta.verbose_name)
        except (LookupError, ValueError):
            name = self.object_type
        return f"{name} {self.object_id}".strip()

    @property
    def detail_text(self) -> str:
        return "; ".join(f"{key}: {value}" for key, value in sorted(self.detail.items()))
