"""Anonymising a patient once their retention period is over: what an erasure request comes to here.

What goes: the patient's names, contact details (their own, their emergency contact's and GP's), the day and month
of their birth (the year stays, for the age outcomes are reported by), their portal sign-in, and every free text
written about them (intake, assessments, session notes and addenda, adverse events and reactions, check-ins,
appointments, course and follow-up notes, the request's own notes), in the live rows and in every change-history
row of them alike: history that kept the old names would make the erasure a fiction. Free text is replaced with a
fixed placeholder (blank stays blank), so a reader sees that something was written and is gone.

What stays: the clinic number (the clinic's own pseudonym), sex, every date, score and structured fact (nerves,
sides, volumes, solutions, lots, medications, conditions), so outcomes and lot recalls still count them.

Signed notes, addenda and reported reactions are refused any change by database triggers; the one exception
(patients/0009) is this transaction's `pit.anonymising` setting, and only for free text set to the placeholder. A
signed note's SHA-256 is taken again over what it then holds: the audit trail records that it was anonymised. The
patient's stored PDFs are made again from the anonymised record. The audit trail itself is never changed: its
events name the patient by id, and the anonymisation's own event says what was done without the erased data.
"""

from dataclasses import dataclass
from datetime import date

import pgtrigger
from django.apps import apps
from django.db import connection, models, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import User
from audit.models import Action, Source
from audit.services import record
from patients.models import KnownName, Patient
from patients.retention import Retention, retention_of

PLACEHOLDER = "[anonymised]"  # also in patients/0009's trigger function
ANONYMISED_GIVEN_NAME = "Anonymised"
ANONYMISED_FAMILY_NAME = "Patient"
# An invitation's address is required; this one is reserved never to resolve (RFC 2606).
INVITE_EMAIL = "anonymised@example.invalid"


@dataclass(frozen=True)
class FreeText:
    """A model's free-text fields, and the path from it to its patient."""

    model: str
    to_patient: str
    fields: tuple[str, ...]


FREE_TEXT = (
    FreeText("patients.Intake", "patient", ("other_condition", "other_allergies", "infection_details", "notes")),
    FreeText("patients.PatientConsent", "patient", ("signed_name", "withdrawal_reason")),
    FreeText("patients.DataRequest", "patient", ("notes",)),
    FreeText("assessments.Assessment", "patient", ("presenting_complaint", "aggravating_factors", "plan_notes")),
    FreeText("assessments.PainArea", "assessment__patient", ("note",)),
    FreeText("assessments.FunctionalActivity", "assessment__patient", ("activity",)),
    FreeText("treatments.TreatmentCourse", "patient", ("discontinued_reason",)),
    # Adverse events before their session: the session's SHA-256 is taken over both.
    FreeText("treatments.AdverseEvent", "session__course__patient", ("note",)),
    FreeText("treatments.InjectionSession", "course__patient", ("notes", "alert_override_reason")),
    FreeText("treatments.SessionAddendum", "session__course__patient", ("text",)),
    FreeText("portal.CheckIn", "patient", ("new_medication_details", "new_allergy_details", "new_problems")),
    FreeText("safety.DelayedReaction", "patient", ("description",)),
    FreeText("safety.AdverseEventFollowUp", "adverse_event__session__course__patient", ("resolution_note",)),
    FreeText("safety.AdverseEventFollowUp", "delayed_reaction__patient", ("resolution_note",)),
    FreeText("scheduling.Appointment", "patient", ("notes", "cancel_reason", "outside_hours_reason")),
    # An imported row's report line names who it was about (imports.ImportRow.label).
    FreeText("imports.ImportRow", "patient", ("label",)),
)

CONTACT_FIELDS = (
    "preferred_name", "phone", "email", "address_line1", "address_line2", "town", "postcode",
    "emergency_contact_name", "emergency_contact_relationship", "emergency_contact_phone",
    "gp_name", "gp_practice", "gp_phone", "gp_email",
)  # fmt: skip


class RetentionNotOver(Exception):
    """Erasure asked for before the patient's signed record may go; `retention.reason` says until when."""

    def __init__(self, retention: Retention) -> None:
        super().__init__(retention.reason)
        self.retention = retention


def _event_model(label: str) -> type[models.Model] | None:
    """The change-history (django-pghistory) model of a tracked model; None for a model not tracked."""
    model = apps.get_model(label)
    try:
        return apps.get_model(model._meta.app_label, f"{model.__name__}Event")
    except LookupError:
        return None


def _placeholder(fields: tuple[str, ...]) -> dict:
    """Each field set to the placeholder where it holds text; a blank one stays blank."""
    return {
        field: models.Case(
            models.When(~Q(**{field: ""}), then=models.Value(PLACEHOLDER)),
            default=models.F(field),
            output_field=models.TextField(),
        )
        for field in fields
    }


def _identity(patient: Patient) -> dict:
    """What the patient's row holds once anonymised: names and contacts gone, born on 1 January of their year."""
    return {
        "given_name": ANONYMISED_GIVEN_NAME,
        "family_name": ANONYMISED_FAMILY_NAME,
        "date_of_birth": date(patient.date_of_birth.year, 1, 1),
        **dict.fromkeys(CONTACT_FIELDS, ""),
    }


def _scrub_live_rows(patient: Patient) -> None:
    with connection.cursor() as cursor:
        # For this transaction only: the triggers of patients/0009 let free text become the placeholder.
        cursor.execute("SELECT set_config('pit.anonymising', 'on', true)")
    for text in FREE_TEXT:
        apps.get_model(text.model).objects.filter(**{text.to_patient: patient}).update(**_placeholder(text.fields))
    _sign_again(patient)
    Patient.objects.filter(pk=patient.pk).update(**_identity(patient))


def _sign_again(patient: Patient) -> None:
    """Take each signed note's SHA-256 again over its anonymised content, so it is shown as intact."""
    from treatments.models import InjectionSession
    from treatments.services import session_digest

    signed = InjectionSession.objects.filter(course__patient=patient, signed_at__isnull=False).select_related("course")
    for session in signed:
        InjectionSession.objects.filter(pk=session.pk).update(content_sha256=session_digest(session))


def _scrub_history(patient: Patient) -> int:
    """Anonymise the patient's change-history rows as their live rows were; the number of rows changed. The
    history tables' append-only triggers are set aside for these statements alone (pgtrigger.ignore)."""
    changed = 0
    patient_events = apps.get_model("patients", "PatientEvent")
    with pgtrigger.ignore(f"patients.{patient_events.__name__}:append_only"):
        changed += patient_events.objects.filter(pgh_obj_id=patient.pk).update(**_identity(patient))
    for text in FREE_TEXT:
        events = _event_model(text.model)
        if events is None:
            continue
        with pgtrigger.ignore(f"{events._meta.app_label}.{events.__name__}:append_only"):
            rows = events._default_manager.filter(**{text.to_patient: patient})
            changed += rows.update(**_placeholder(text.fields))
    return changed


def _close_portal_account(patient: Patient) -> bool:
    """Disable the patient's portal sign-in and clear what named them; True if they had one."""
    if patient.user_id is None:
        return False
    user = User.objects.get(pk=patient.user_id)
    user.username = f"anonymised-{patient.pk}"
    user.first_name = user.last_name = user.email = ""
    user.is_active = False
    user.set_unusable_password()
    user.save(update_fields=["username", "first_name", "last_name", "email", "is_active", "password"])
    return True


def _revoke_invites(patient: Patient) -> None:
    """Portal invitations lose the address they were sent to; any still open stops working."""
    from portal.models import PatientInvite

    invites = PatientInvite.objects.filter(patient=patient)
    invites.filter(used_at__isnull=True, revoked_at__isnull=True).update(revoked_at=timezone.now())
    invites.update(email=INVITE_EMAIL)


def _forget_names(names: set[str]) -> None:
    """Take the patient's old names out of the search's vocabulary unless another patient still has them."""
    in_use = Patient.objects.filter(Q(given_name__in=names) | Q(family_name__in=names) | Q(preferred_name__in=names))
    used = {name for row in in_use.values_list("given_name", "family_name", "preferred_name") for name in row}
    KnownName.objects.filter(name__in=names - used).delete()


def _expire_record_copies(patient: Patient) -> int:
    """The patient's ready copies of their record (zips of the record as it was) expire now; the copies' sweeper
    deletes their files within the minute. A copy still being made is made from the anonymised record."""
    from portal.models import CopyStatus, RecordCopy

    ready = RecordCopy.objects.filter(patient=patient, status=CopyStatus.READY)
    return ready.update(status=CopyStatus.EXPIRED, expires_at=timezone.now())


def _rebuild_documents(patient: Patient) -> int:
    """Make the patient's ready PDFs again from the anonymised record (after this transaction commits)."""
    from documents.models import Document, DocumentStatus
    from documents.services import document_rebuild

    ready = Document.objects.filter(patient=patient, status=DocumentStatus.READY).values_list("pk", flat=True)
    return sum(document_rebuild(document_id=pk) for pk in list(ready))


@dataclass(frozen=True)
class Anonymised:
    patient: Patient
    already: bool  # anonymised before: nothing was changed this time
    history_rows: int = 0
    documents: int = 0


@transaction.atomic
def patient_anonymise(*, patient: Patient, by: User | None, today: date | None = None, request=None) -> Anonymised:
    """Anonymise the patient, all in one transaction, and audit it. Refused (RetentionNotOver, saying until
    when) while their signed record must still be kept. Anonymising an anonymised patient changes nothing."""
    patient = Patient.objects.select_for_update().get(pk=patient.pk)
    if patient.anonymised_at is not None:
        return Anonymised(patient=patient, already=True)
    retention = retention_of(patient)
    if not retention.is_over(today or timezone.localdate()):
        raise RetentionNotOver(retention)
    old_names = {patient.given_name, patient.family_name, patient.preferred_name} - {""}
    _scrub_live_rows(patient)
    history_rows = _scrub_history(patient)
    had_account = _close_portal_account(patient)
    _revoke_invites(patient)
    _forget_names(old_names)
    documents = _rebuild_documents(patient)
    copies = _expire_record_copies(patient)
    Patient.objects.filter(pk=patient.pk).update(anonymised_at=timezone.now())
    # Counts and dates only: none of what was erased.
    detail = {
        "history_rows": history_rows,
        "documents_remade": documents,
        "record_copies_expired": copies,
        "portal_account_closed": had_account,
        "retained_until": retention.until.isoformat() if retention.until else None,
    }
    source = None if request is not None else Source.COMMAND
    record(Action.PATIENT_ANONYMISED, request=request, actor=by, patient=patient.pk, detail=detail, source=source)
    patient.refresh_from_db()
    return Anonymised(patient=patient, already=False, history_rows=history_rows, documents=documents)
