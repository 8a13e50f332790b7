"""Asking patients for their measures between visits, and keeping what they answer.

Requests are rows written in the transaction of what makes them owed (a course closing) or by beat (an
appointment coming up); emails are owed through pit_portal.outbox, keyed by the request, so a beat run twice or a
message delivered twice sends one email. Whether a request still applies is checked again when it is sent and
when its link is opened, because the course, the appointment or the consent may have changed meanwhile."""

import logging
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from accounts.models import User
from outcomes.models import EnteredVia, MeasureRequest, MeasureSchedule, Moment, PatientReport
from patients.models import Patient, PatientConsent
from patients.services import valid_consent
from pit_portal.outbox.models import EmailKind
from pit_portal.outbox.services import email_owe, send_templated_mail
from portal.models import CheckIn
from safety.models import ReportedVia
from safety.services import delayed_reaction_report, reportable_sessions
from scheduling.models import Appointment, AppointmentStatus
from treatments.models import CourseStatus, TreatmentCourse

logger = logging.getLogger(__name__)

LINK_SALT = "outcomes.measure-link"
# An appointment's pre-session questions go out this long before it; the link works until it starts.
BEFORE_SESSION_LEAD = timedelta(days=2)
# How long the link of a request made at or after the end of a course works once it is due.
ANSWER_WINDOW = timedelta(days=21)
# One reminder, this long after the first email, for a request still unanswered.
REMINDER_AFTER = timedelta(days=3)
# Requests due after a course are sent from this local hour, like appointment reminders.
SEND_AT = time(10, 0)


class RequestClosed(Exception):
    """The request can no longer be answered; `reason` is what the patient is told."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


# --- Making requests ------------------------------------------------------------------------------------------


def _request_from(
    schedule: MeasureSchedule,
    course: TreatmentCourse,
    *,
    due_at: datetime,
    expires_at: datetime,
    appointment: Appointment | None = None,
) -> MeasureRequest:
    return MeasureRequest(
        patient_id=course.patient_id,
        course=course,
        appointment=appointment,
        moment=schedule.moment,
        days_after_course=schedule.days_after_course,
        ask_nrs=schedule.ask_nrs,
        ask_peg=schedule.ask_peg,
        ask_pgic=schedule.ask_pgic,
        ask_further_treatment=schedule.ask_further_treatment,
        due_at=due_at,
        expires_at=expires_at,
    )


def _local(day: date, at: time = SEND_AT) -> datetime:
    return timezone.make_aware(datetime.combine(day, at))


def course_followups_schedule(course: TreatmentCourse, now: datetime | None = None) -> int:
    """Owe the end-of-course request (due now) and those after it (due from SEND_AT on the day), as the clinic's
    schedule sets them; in the caller's transaction, which closes the course. Returns how many were asked for; a
    live request already there is kept instead (the unique constraint, with ON CONFLICT DO NOTHING)."""
    now = now or timezone.now()
    assert course.closed_on is not None
    requests = []
    for schedule in MeasureSchedule.objects.filter(active=True, moment__in=[Moment.COURSE_END, Moment.AFTER_COURSE]):
        if schedule.moment == Moment.COURSE_END:
            due_at = now
        else:
            due_at = max(now, _local(course.closed_on + timedelta(days=schedule.days_after_course or 0)))
        requests.append(_request_from(schedule, course, due_at=due_at, expires_at=due_at + ANSWER_WINDOW))
    MeasureRequest.objects.bulk_create(requests, ignore_conflicts=True)
    return len(requests)


def course_requests_cancel(course: TreatmentCourse, *, moments: list[str], reason: str) -> int:
    """Cancel the course's unanswered requests of these moments (a course reopened, or closed while sessions were
    still booked): their links stop working and nothing more is sent."""
    live = MeasureRequest.objects.filter(
        course=course, moment__in=moments, answered_at__isnull=True, cancelled_at__isnull=True
    )
    return live.update(cancelled_at=timezone.now(), cancel_reason=reason)


def before_session_requests_make(now: datetime | None = None) -> int:
    """Owe the pre-session questions for every booked appointment of an open course that starts within
    BEFORE_SESSION_LEAD; run by beat, so running twice makes each once."""
    now = now or timezone.now()
    schedule = MeasureSchedule.objects.filter(active=True, moment=Moment.BEFORE_SESSION).first()
    if schedule is None:
        return 0
    asked = MeasureRequest.objects.filter(appointment=OuterRef("pk"), cancelled_at__isnull=True)
    coming = (
        Appointment.objects.filter(
            status=AppointmentStatus.BOOKED,
            starts_at__gt=now,
            starts_at__lte=now + BEFORE_SESSION_LEAD,
            course__status=CourseStatus.ACTIVE,
        )
        .exclude(Exists(asked))
        .select_related("course")
    )
    requests = [
        _request_from(
            schedule, appointment.course, due_at=now, expires_at=appointment.starts_at, appointment=appointment
        )
        for appointment in coming
        if appointment.course is not None
    ]
    # A run beside this one may have made some meanwhile: the unique constraint keeps one of each.
    MeasureRequest.objects.bulk_create(requests, ignore_conflicts=True)
    return len(requests)


def due_requests_owe(now: datetime | None = None) -> tuple[int, int]:
    """Owe the first email of every request now due, and the one reminder of every request sent REMINDER_AFTER
    ago and still open. The outbox's key (the request's id) makes owing twice a no-op. Returns both counts."""
    now = now or timezone.now()
    live = MeasureRequest.objects.filter(answered_at__isnull=True, cancelled_at__isnull=True, expires_at__gt=now)
    first = list(live.filter(sent_at__isnull=True, not_sent_reason="", due_at__lte=now).values_list("pk", flat=True))
    again = list(live.filter(sent_at__lte=now - REMINDER_AFTER, reminded_at__isnull=True).values_list("pk", flat=True))
    with transaction.atomic():
        for request_id in first:
            email_owe(kind=EmailKind.MEASURE_REQUEST, object_id=request_id)
        for request_id in again:
            email_owe(kind=EmailKind.MEASURE_REMINDER, object_id=request_id)
    return len(first), len(again)


# --- Whether a request still applies -------------------------------------------------------------------------


def consent_withdrawn(patient: Patient) -> bool:
    """The patient withdrew their consent and has not given it again: the clinic asks them nothing more."""
    withdrawn = PatientConsent.objects.filter(patient=patient, withdrawn_at__isnull=False).exists()
    return withdrawn and valid_consent(patient) is None


def why_closed(request: MeasureRequest, now: datetime | None = None) -> str:
    """Why the request can no longer be answered, in words for the patient; "" while it can. Reads the request's
    course and appointment (select them with it)."""
    now = now or timezone.now()
    if request.answered_at is not None:
        return "This form has already been answered. Thank you."
    if request.cancelled_at is not None:
        return "This form is no longer needed."
    if request.expires_at <= now:
        return "This link has expired."
    if request.moment == Moment.BEFORE_SESSION:
        appointment = request.appointment
        if request.course.status != CourseStatus.ACTIVE or appointment is None:
            return "This form is no longer needed."
        if appointment.status != AppointmentStatus.BOOKED or appointment.starts_at <= now:
            return "This form is no longer needed: the appointment it was for has changed."
    elif request.course.status == CourseStatus.ACTIVE:
        return "This form is no longer needed."
    if consent_withdrawn(request.patient):
        return "This form is no longer needed."
    return ""


def _cancel(request: MeasureRequest, reason: str) -> None:
    request.cancelled_at, request.cancel_reason = timezone.now(), reason[:200]
    request.save(update_fields=["cancelled_at", "cancel_reason"])


# --- Links ----------------------------------------------------------------------------------------------------


def link_token(request: MeasureRequest) -> str:
    return signing.dumps([request.pk, request.link_nonce], salt=LINK_SALT)


def link_url(request: MeasureRequest) -> str:
    """A portal user answers in the portal (signed in): before a session, in the visit's check-in, which asks the
    same questions; anyone else through the signed, single-use link."""
    if request.patient.user_id is not None and request.appointment_id is not None:
        return settings.SITE_URL + reverse("portal:check_in", kwargs={"pk": request.appointment_id})
    if request.patient.user_id is not None:
        return settings.SITE_URL + reverse("portal:measures", kwargs={"pk": request.pk})
    return settings.SITE_URL + reverse("outcomes:answer_by_link", kwargs={"token": link_token(request)})


def request_from_token(token: str) -> MeasureRequest | None:
    """The request a link names, if its signature and nonce are right; None for anything else (the view answers
    404 the same way whatever was wrong)."""
    try:
        request_id, nonce = signing.loads(token, salt=LINK_SALT, max_age=settings.MEASURE_LINK_MAX_AGE)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    if not isinstance(request_id, int) or not isinstance(nonce, str):
        return None
    request = MeasureRequest.objects.select_related("course", "appointment", "patient").filter(pk=request_id).first()
    if request is None or not constant_time_compare(request.link_nonce, nonce):
        return None
    return request


# --- Sending --------------------------------------------------------------------------------------------------


def _send_email(request: MeasureRequest, *, reminder: bool) -> None:
    context = {
        "name": request.patient.preferred_name or request.patient.given_name,
        "link": link_url(request),
        "in_portal": request.patient.user_id is not None,
        "expires_at": timezone.localtime(request.expires_at),
        "reminder": reminder,
        "clinic": {"name": settings.CLINIC_NAME, "phone": settings.CLINIC_PHONE},
    }
    send_templated_mail("outcomes/email/request", context, request.patient.email)


def _send(request_id: int, *, reminder: bool) -> bool:
    """Email one request (or its reminder) if it still applies; a request that no longer does is cancelled with
    the reason, one whose patient has no email address keeps that reason for staff (a portal user can still
    answer in the portal). Locked, so two deliveries of the message send once."""
    now = timezone.now()
    with transaction.atomic():
        request = (
            MeasureRequest.objects.select_for_update(of=("self",))
            .select_related("course", "appointment", "patient")
            .filter(pk=request_id)
            .first()
        )
        if request is None:
            return False
        closed = why_closed(request, now)
        if closed:
            if request.answered_at is None and request.cancelled_at is None and request.expires_at > now:
                _cancel(request, closed)
            return False
        if reminder and (request.sent_at is None or request.reminded_at is not None):
            return False
        if not reminder and request.sent_at is not None:
            return False
        if request.appointment_id is not None and _answered_by_check_in(request):
            return False
        if not request.patient.email:
            request.not_sent_reason = "No email address on file."
            request.save(update_fields=["not_sent_reason"])
            return False
        _send_email(request, reminder=reminder)
        field = "reminded_at" if reminder else "sent_at"
        setattr(request, field, now)
        request.save(update_fields=[field])
    return True


def request_send(request_id: int) -> bool:
    return _send(request_id, reminder=False)


def reminder_send(request_id: int) -> bool:
    return _send(request_id, reminder=True)


# --- Answering ------------------------------------------------------------------------------------------------


REPORT_FIELDS = ("nrs_now", "nrs_average", "peg_enjoyment", "peg_activity", "pgic", "further_treatment")


@transaction.atomic
def report_record(
    *, request_id: int, answers: dict, via: EnteredVia, by: User | None = None, reaction: dict | None = None
) -> PatientReport:
    """Keep the patient's answers and close the request, in one transaction; raises RequestClosed (nothing saved)
    when the request was answered meanwhile (a second tab, a link used twice) or no longer applies. A `reaction`
    (kind, severity, description) reaches the clinician as an open delayed reaction (safety), in the same
    transaction: its ValidationError saves nothing either."""
    request = (
        MeasureRequest.objects.select_for_update(of=("self",))
        .select_related("course", "appointment", "patient")
        .get(pk=request_id)
    )
    closed = why_closed(request)
    if closed:
        raise RequestClosed(closed)
    report = PatientReport(
        request=request,
        patient_id=request.patient_id,
        course_id=request.course_id,
        entered_via=via,
        entered_by=by if via == EnteredVia.PORTAL else None,
        **{field: answers.get(field) for field in REPORT_FIELDS},
    )
    report.full_clean(exclude=["request", "patient", "course", "entered_by"])
    report.save()
    request.answered_at = report.submitted_at
    request.save(update_fields=["answered_at"])
    if reaction is not None:
        portal = via == EnteredVia.PORTAL
        delayed_reaction_report(
            patient=request.patient, via=ReportedVia.PORTAL if portal else ReportedVia.BETWEEN_VISIT_FORM,
            by=by if portal else None, **reaction,
        )  # fmt: skip
    return report


def reaction_can_be_reported(patient: Patient) -> bool:
    """Whether the patient has a signed session a reaction could follow (the between-visit form then asks)."""
    return reportable_sessions(patient).exists()


def _report_from_check_in(request: MeasureRequest, check_in: CheckIn, by: User | None) -> PatientReport:
    answers = {"nrs_now": check_in.nrs_now} if request.ask_nrs else {}
    if request.ask_nrs or request.ask_peg:
        answers["nrs_average"] = check_in.peg_pain  # the PEG's pain item is the average pain
    if request.ask_peg:
        answers.update(peg_enjoyment=check_in.peg_enjoyment, peg_activity=check_in.peg_activity)
    report = PatientReport.objects.create(
        request=request, patient_id=request.patient_id, course_id=request.course_id, entered_via=EnteredVia.PORTAL,
        entered_by=by, submitted_at=check_in.submitted_at, **answers,
    )  # fmt: skip
    request.answered_at = report.submitted_at
    request.save(update_fields=["answered_at"])
    return report


def _answered_by_check_in(request: MeasureRequest) -> bool:
    """A portal user who already checked in for the appointment has answered its pre-session questions there:
    the check-in's scores become the request's answer (the request row is locked by the caller)."""
    check_in = CheckIn.objects.filter(appointment=request.appointment).first()
    if check_in is None or request.patient.user_id is None:
        return False
    _report_from_check_in(request, check_in, request.patient.user)
    return True


def answer_from_check_in(check_in: CheckIn, by: User) -> PatientReport | None:
    """In the check-in's transaction: the open pre-session request of its appointment, if any, is answered by it.
    A check-in changed later leaves the report as first given (the check-in itself keeps the change)."""
    request = (
        MeasureRequest.objects.select_for_update(of=("self",))
        .select_related("course", "appointment", "patient")
        .filter(appointment_id=check_in.appointment_id, moment=Moment.BEFORE_SESSION, cancelled_at__isnull=True)
        .first()
    )
    if request is None or why_closed(request):
        return None
    return _report_from_check_in(request, check_in, by)


def open_requests_for_patient(patient_id: int) -> QuerySet[MeasureRequest]:
    """The patient's questions to answer in the portal now, oldest first: at and after the end of a course (those
    before a session are the visit's check-in)."""
    now = timezone.now()
    return (
        MeasureRequest.objects.filter(
            patient_id=patient_id,
            moment__in=[Moment.COURSE_END, Moment.AFTER_COURSE],
            answered_at__isnull=True,
            cancelled_at__isnull=True,
            expires_at__gt=now,
            due_at__lte=now,
        )
        .exclude(course__status=CourseStatus.ACTIVE)
        .select_related("course__condition")
        .order_by("due_at", "pk")
    )
