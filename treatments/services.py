"""Clinical actions on courses and session notes: draft, sign, correct by addendum."""

from dataclasses import dataclass
from datetime import date

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from accounts.models import User
from documents.services import documents_request, documents_request_first
from outcomes.models import Moment
from outcomes.services import course_followups_schedule, course_requests_cancel
from patients.models import Intake, Patient
from patients.services import valid_consent_id
from portal.models import CheckIn
from treatments.doses import DoseSummary, shown
from treatments.models import (
    Additive,
    AdverseEvent,
    CourseStatus,
    InjectionSession,
    InjectionSite,
    SessionAddendum,
    TreatmentCourse,
)
from treatments.signature import content_digest, signed_content


class SessionAlreadySigned(ValidationError):
    pass


INFECTED_AREA = "infected-area"


@dataclass(frozen=True)
class Alert:
    """A precaution shown above the session form. A red one (`danger`) that is `blocking` stops the save until the
    clinician gives a reason to go ahead; `forbids` is what it rules out, marked in the form where it is chosen:
    an additive (in its menu) or INFECTED_AREA (beside the injection sites)."""

    message: str
    blocking: bool
    danger: bool = False
    forbids: str = ""

    @property
    def kind(self) -> str:
        return "blocking" if self.blocking else "danger" if self.danger else "warning"


def _infection_alerts(intake: Intake, check_in: CheckIn | None) -> list[Alert]:
    alerts = []
    if intake.infection_or_open_wound:
        detail = f": {intake.infection_details}" if intake.infection_details else ""
        message = f"Infection or open wound recorded{detail}. Do not inject into it."
        alerts.append(Alert(message, True, True, INFECTED_AREA))
    if check_in is not None and check_in.new_infection:
        message = "Reported at check-in: an infection, wound or rash near the treated area. Do not inject into it."
        alerts.append(Alert(message, True, True, INFECTED_AREA))
    return alerts


def _allergy_alerts(intake: Intake, check_in: CheckIn | None, additive: str) -> list[Alert]:
    """An allergy to amide local anaesthetics rules lidocaine out; so does a new allergy reported at check-in until
    the clinician has checked what it is. Either blocks the save only once lidocaine is chosen."""
    lidocaine = additive == Additive.LIDOCAINE
    chosen = " Lidocaine is chosen." if lidocaine else ""
    alerts = []
    if intake.allergy_amide_local_anaesthetic:
        message = f"Allergy to amide local anaesthetics recorded: no lidocaine in the solution.{chosen}"
        alerts.append(Alert(message, lidocaine, True, Additive.LIDOCAINE))
    if check_in is not None and check_in.new_allergy:
        message = (
            f"Reported at check-in: a new allergy ({check_in.new_allergy_details}). Check what it is before "
            f"choosing the solution; no lidocaine without a reason.{chosen}"
        )
        alerts.append(Alert(message, lidocaine, True, Additive.LIDOCAINE))
    if intake.allergy_corn_dextrose:
        alerts.append(Alert("Corn / dextrose allergy recorded: dextrose is corn-derived.", blocking=False))
    return alerts


def _diabetes_message(dose: DoseSummary | None) -> str:
    """The dextrose this note gives, and with it the course's and the last 30 days' (signed notes only)."""
    if dose is None:
        return "Diabetes: note the dextrose load."
    note, percent = dose.this_note, f"{dose.dextrose_percent.normalize():f}"
    return (
        f"Diabetes: this note gives {shown(note.dextrose_g)} g of dextrose ({shown(note.volume_ml)} mL of "
        f"{percent}%); with it, {shown(dose.course_total.dextrose_g)} g in this course and "
        f"{shown(dose.recent_total.dextrose_g)} g over the last 30 days."
    )


def _warning_alerts(intake: Intake, check_in: CheckIn | None, dose: DoseSummary | None) -> list[Alert]:
    reported = check_in or CheckIn()
    warnings = [
        (intake.anticoagulant_or_bleeding_disorder, "Anticoagulant or bleeding disorder: higher risk of bruising."),
        (reported.new_blood_thinner, "Reported at check-in: a new blood thinner. Higher risk of bruising."),
        (intake.diabetes, _diabetes_message(dose)),
        (intake.pregnant_or_breastfeeding, "Pregnant or breastfeeding."),
        (reported.pregnant, "Reported at check-in: pregnant or breastfeeding."),
    ]
    return [Alert(message, blocking=False) for applies, message in warnings if applies]


def session_alerts(
    *, intake: Intake, additive: str, check_in: CheckIn | None = None, dose: DoseSummary | None = None
) -> list[Alert]:
    """Every precaution of the patient's medical background, and of what they reported at check-in for today's
    visit, that applies to a session: red ones first. Blocking ones need an override reason. With the note's
    `dose` (treatments.doses), the diabetes warning gives the patient's figures; without it, only a reminder."""
    return [
        *_infection_alerts(intake, check_in),
        *_allergy_alerts(intake, check_in, additive),
        *_warning_alerts(intake, check_in, dose),
    ]


@transaction.atomic
def course_start(*, patient: Patient, baseline_assessment=None, by: User, **plan) -> TreatmentCourse:
    """Start a course of `plan` (its condition, planned_sessions, interval_days and started_on) for the patient; the
    baseline assessment, unless it already belongs to a course, becomes this one's."""
    course = TreatmentCourse(patient=patient, baseline_assessment=baseline_assessment, created_by=by, **plan)
    course.full_clean()
    course.save()
    if baseline_assessment is not None and baseline_assessment.course_id is None:
        baseline_assessment.course = course
        baseline_assessment.save(update_fields=["course"])
    return course


@transaction.atomic
def course_close(
    *,
    course: TreatmentCourse,
    status: str,
    stop_reason: str = "",
    details: str = "",
    final_pgic: int | None = None,
    closed_on: date | None = None,
) -> TreatmentCourse:
    """Close the course with its outcome: completed, or discontinued for a reason from the list ("other" needs
    details), with the patient's final impression of change if given. In the same transaction, its remaining
    pre-session questions are cancelled and the end-of-course and follow-up questions owed (outcomes)."""
    if status not in (CourseStatus.COMPLETED, CourseStatus.DISCONTINUED):
        raise ValidationError("A course can only be completed or discontinued.")
    if not course.is_active:
        raise ValidationError("This course is already closed.")
    course.status = status
    course.stop_reason = stop_reason if status == CourseStatus.DISCONTINUED else ""
    course.discontinued_reason = details.strip()
    course.final_pgic = final_pgic
    course.closed_on = closed_on or timezone.localdate()
    course.full_clean(exclude=["patient", "condition", "baseline_assessment", "created_by"])
    course.save(update_fields=["status", "stop_reason", "discontinued_reason", "final_pgic", "closed_on"])
    course_requests_cancel(course, moments=[Moment.BEFORE_SESSION], reason="The course was closed.")
    course_followups_schedule(course)
    return course


@transaction.atomic
def course_reopen(*, course: TreatmentCourse) -> TreatmentCourse:
    """Make a closed course active again (closed by mistake, or the patient is back): its outcome is cleared and
    the end-of-course and follow-up questions not yet answered are cancelled; closing it again owes new ones."""
    if course.is_active:
        raise ValidationError("This course is already active.")
    course.status, course.stop_reason, course.discontinued_reason = CourseStatus.ACTIVE, "", ""
    course.final_pgic, course.closed_on = None, None
    course.save(update_fields=["status", "stop_reason", "discontinued_reason", "final_pgic", "closed_on"])
    course_requests_cancel(course, moments=[Moment.COURSE_END, Moment.AFTER_COURSE], reason="The course was reopened.")
    return course


def _lock_course_for_numbering(course: TreatmentCourse) -> tuple[int, int | None]:
    """Lock the course row (so two new notes in it are numbered one after the other) and return the next
    session number and the patient's valid consent (None without one), in one query."""
    last = InjectionSession.objects.filter(course=OuterRef("pk")).order_by("-number").values("number")[:1]
    locked = TreatmentCourse.objects.select_for_update(of=("self",)).annotate(
        last_number=Subquery(last), consent_id=valid_consent_id(OuterRef("patient_id"))
    )
    [(last_number, consent_id)] = locked.filter(pk=course.pk).values_list("last_number", "consent_id")
    return (last_number or 0) + 1, consent_id


def _lock_draft(session: InjectionSession) -> int | None:
    """Lock the draft's row (signing at the same moment must not interleave with this save), refuse it if it
    was signed meanwhile, and return the patient's valid consent (None without one), in one query."""
    consent = valid_consent_id(OuterRef("course__patient_id"))
    locked = InjectionSession.objects.select_for_update(of=("self",)).annotate(consent_id_now=consent)
    [(signed_at, consent_id)] = locked.filter(pk=session.pk).values_list("signed_at", "consent_id_now")
    if signed_at is not None:
        raise SessionAlreadySigned("This session is signed and can no longer be changed. Add an addendum.")
    return consent_id


def _save_rows(formset) -> None:
    """Save a formset's rows: new ones in one INSERT however many there are, changed ones one by one, and
    the ones ticked for deletion deleted."""
    formset.save(commit=False)
    for row in formset.deleted_objects:
        row.delete()
    for row, _changed_fields in formset.changed_objects:
        row.save()
    if formset.new_objects:
        formset.model.objects.bulk_create(formset.new_objects)


def new_session_for(course: TreatmentCourse, *, by: User, prefill: bool = True) -> InjectionSession:
    """An unsaved draft for the form, pre-filled (unless told not to) from the last session of the course."""
    session = InjectionSession(course=course, clinician=by, performed_at=timezone.now())
    last = course.sessions.order_by("-number").first() if prefill else None
    if last is not None:
        for field in ("dextrose_percent", "diluent", "buffered", "additive", "additive_percent", "technique"):
            setattr(session, field, getattr(last, field))
        session.needle_gauge = last.needle_gauge
    return session


@transaction.atomic
def session_save_draft(*, session: InjectionSession, sites, adverse_events, by: User) -> InjectionSession:
    """Save a draft with its site and adverse-event formsets; numbers a new session in its course."""
    if session.pk:
        consent_id = _lock_draft(session)
    else:
        session.number, consent_id = _lock_course_for_numbering(session.course)
    if consent_id is None:
        raise ValidationError("The patient has no valid consent on file. Record consent before treating.")
    session.consent_id = consent_id
    session.clinician = session.clinician if session.clinician_id else by
    # The number was just taken under the course's lock, so its uniqueness needs no query of its own; the
    # consent was just read in this transaction, so it needs none to show it exists.
    session.full_clean(exclude=["consent"] if session.pk else ["number", "consent"])
    session.save()
    sites.instance = session
    _save_rows(sites)
    adverse_events.instance = session
    _save_rows(adverse_events)
    return session


def session_content(session: InjectionSession) -> dict:
    """What a signature covers: every clinical field of the note, its sites and adverse events."""
    sites = InjectionSite.objects.filter(session=session.pk).order_by("id")
    events = AdverseEvent.objects.filter(session=session.pk).order_by("id")
    return signed_content(
        session,
        sites.values_list("nerve_id", "side", "points", "volume_per_point_ml"),
        events.values_list("kind", "severity", "note"),
    )


def session_digest(session: InjectionSession) -> str:
    return content_digest(session_content(session))


@transaction.atomic
def session_sign(*, session: InjectionSession, by: User) -> InjectionSession:
    """Sign the note: who, when and a SHA-256 of its content. Signed notes never change again."""
    if not by.has_perm("treatments.sign_injectionsession"):
        raise PermissionDenied
    session = InjectionSession.objects.select_for_update().select_related("course", "consent").get(pk=session.pk)
    if session.is_signed:
        raise SessionAlreadySigned("This session was already signed.")
    withdrawn_at = session.consent.withdrawn_at
    if withdrawn_at is not None and session.performed_at >= withdrawn_at:
        # A note of treatment given before the withdrawal may still be signed; one given after it may not.
        when = timezone.localtime(withdrawn_at).strftime("%d/%m/%Y %H:%M")
        raise ValidationError(f"The patient withdrew consent on {when}, before this session: it cannot be signed.")
    if session.pre_nrs is None:
        raise ValidationError("Record the pain score before the injection before signing.")
    content = session_content(session)
    if not content["sites"]:
        raise ValidationError("Record at least one injection site before signing.")
    session.content_sha256 = content_digest(content)
    session.signed_by = by
    session.signed_at = timezone.now()
    session.save(update_fields=["content_sha256", "signed_by", "signed_at", "updated_at"])
    documents_request_first(session=session)  # pending PDFs in this transaction; their tasks are sent after commit
    return session


def session_signature_intact(session: InjectionSession) -> bool:
    return session.is_signed and session.content_sha256 == session_digest(session)


@transaction.atomic
def addendum_add(*, session: InjectionSession, text: str, by: User) -> SessionAddendum:
    if not session.is_signed:
        raise ValidationError("Edit the draft instead: addenda are for signed notes.")
    addendum = SessionAddendum(session=session, text=text.strip(), author=by)
    addendum.full_clean()
    addendum.save()
    documents_request(session=session)  # a new version of each PDF, with the addendum; the old ones superseded
    return addendum
