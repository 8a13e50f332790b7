"""The patient portal: appointments, check-in, documents, contact details; and the invitation that opens it.

Portal pages take the signed-in patient from `patient_view` and every id through portal.access, so one
patient can never reach another's appointment or document.
"""

from django.contrib import messages
from django.contrib.auth import login
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import dateformat, timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from icalendar import Calendar

from accounts.decorators import AuthenticatedHttpRequest, permission_required
from audit.models import Action
from audit.services import record
from documents.downloads import document_response
from outcomes.services import open_requests_for_patient
from patients import services as patient_services
from patients.access import get_patient_for
from patients.models import ConsentGiven, ConsentText, Patient
from portal import queries, services
from portal.access import get_own_appointment, get_own_document, patient_view
from portal.forms import CancelForm, CheckInForm, ConsentSignForm, ContactDetailsForm, InviteAcceptForm
from portal.models import CheckIn
from portal.services import InviteState
from scheduling.models import Appointment
from scheduling.notifications import PRODID, appointment_event

# The backend the new patient is signed in with, named because login() needs one when several are configured.
SIGN_IN_BACKEND = "accounts.backends.RoleBackend"


# --- Invitations (staff create, the patient accepts) ----------------------------------------------------------


@require_POST
@permission_required("portal.add_patientinvite")
def invite_new(request: AuthenticatedHttpRequest, patient_pk: int) -> HttpResponse:
    patient = get_patient_for(request.user, patient_pk)
    try:
        invite = services.invite_create(patient=patient, by=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        until = dateformat.format(timezone.localtime(invite.expires_at), "j F")
        messages.success(request, f"Portal invitation sent to {invite.email}. The link works until {until}.")
    return redirect("patients:detail", pk=patient.pk)


@never_cache
@sensitive_post_parameters("password1", "password2")
@require_http_methods(["GET", "POST"])
def invite_accept(request: HttpRequest, token: str) -> HttpResponse:
    invite = services.invite_for_token(token)
    if invite is None:
        return render(request, "portal/invite_unknown.html", status=404)
    state = services.invite_state(invite)
    if state == InviteState.VALID and invite.patient.user_id is not None:
        state = InviteState.USED
    context = {"invite": invite, "state": state}
    if state != InviteState.VALID or request.user.is_authenticated:
        # A signed-in user (say, staff on the clinic PC) must not turn into the patient by following the link.
        # 410 Gone: the link existed but cannot be used any more.
        status = 200 if state == InviteState.VALID else 410
        return render(request, "portal/invite_closed.html", context, status=status)
    form = InviteAcceptForm(request.POST if request.method == "POST" else None, invite=invite)
    if request.method == "POST" and form.is_valid():
        try:
            user = services.invite_accept(
                invite=invite, username=form.cleaned_data["username"], password=form.cleaned_data["password1"]
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            login(request, user, backend=SIGN_IN_BACKEND)
            messages.success(request, "Welcome! Your account is ready.")
            return redirect("portal:home")
    status = 400 if form.is_bound else 200
    return render(request, "portal/invite_accept.html", {**context, "form": form}, status=status)


# --- Portal pages -------------------------------------------------------------------------------------------


@require_GET
@patient_view
def home(request: AuthenticatedHttpRequest, patient: Patient) -> HttpResponse:
    now = timezone.now()
    appointments = list(queries.upcoming_appointments(patient, now))
    context = {
        "patient": patient,
        "appointments": appointments,
        # The ids of the appointments the patient may cancel online, and of those open for check-in.
        "cancellable": {appointment.pk for appointment in appointments if queries.can_cancel_online(appointment, now)},
        "check_in_open": {appointment.pk for appointment in appointments if queries.check_in_open(appointment, now)},
        "document_count": queries.portal_document_count(patient),
        "questions": list(open_requests_for_patient(patient.pk)),
        "notice_hours": queries.CANCEL_NOTICE_HOURS,
        "section": "home",
    }
    return render(request, "portal/home.html", context)


def _calendar_file(appointment: Appointment) -> bytes:
    """The same event the emails carry, published as a plain download (no organiser or attendee)."""
    event = appointment_event(appointment, cancelled=not appointment.is_live)
    return Calendar.new(prodid=PRODID, method="PUBLISH", subcomponents=[event]).to_ical()


@require_GET
@patient_view
def appointment_ics(request: AuthenticatedHttpRequest, patient: Patient, pk: int) -> HttpResponse:
    appointment = get_own_appointment(request.user, pk)
    response = HttpResponse(_calendar_file(appointment), content_type="text/calendar; charset=utf-8")
    day = timezone.localdate(appointment.starts_at)
    response["Content-Disposition"] = f'attachment; filename="appointment-{day.isoformat()}.ics"'
    response["Cache-Control"] = "no-store"
    return response


@require_http_methods(["GET", "POST"])
@patient_view
def appointment_cancel(request: AuthenticatedHttpRequest, patient: Patient, pk: int) -> HttpResponse:
    appointment = get_own_appointment(request.user, pk)
    context = {
        "patient": patient,
        "appointment": appointment,
        "section": "home",
        "notice_hours": queries.CANCEL_NOTICE_HOURS,
    }
    if not queries.can_cancel_online(appointment):
        # Too late (or no longer booked): the clinic may still be able to help by phone.
        status = 409 if request.method == "POST" else 200
        return render(request, "portal/cancel_refused.html", context, status=status)
    form = CancelForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            services.appointment_cancel_by_patient(
                appointment=appointment, reason=form.cleaned_data["reason"], by=request.user
            )
        except ValidationError as error:
            context["error"] = " ".join(error.messages)
            return render(request, "portal/cancel_refused.html", context, status=409)
        when = dateformat.format(timezone.localtime(appointment.starts_at), r"l j F \a\t H:i")
        messages.success(request, f"Your appointment on {when} is cancelled.")
        return redirect("portal:home")
    return render(request, "portal/cancel.html", {**context, "form": form}, status=400 if form.is_bound else 200)


@require_http_methods(["GET", "POST"])
@patient_view
def check_in(request: AuthenticatedHttpRequest, patient: Patient, pk: int) -> HttpResponse:
    appointment = get_own_appointment(request.user, pk)
    context = {"patient": patient, "appointment": appointment, "section": "home"}
    if not queries.check_in_open(appointment):
        return render(request, "portal/check_in_closed.html", context, status=409)
    existing = CheckIn.objects.filter(appointment=appointment).first()
    instance = existing or CheckIn(appointment=appointment, patient=patient)
    form = CheckInForm(request.POST if request.method == "POST" else None, instance=instance)
    if request.method == "POST" and form.is_valid():
        services.check_in_submit(appointment=appointment, patient=patient, answers=form.cleaned_data, by=request.user)
        messages.success(request, "Thank you. Your clinician will read your answers before your appointment.")
        return redirect("portal:home")
    context.update(form=form, existing=existing)
    return render(request, "portal/check_in.html", context, status=400 if form.is_bound else 200)


@require_GET
@patient_view
def documents(request: AuthenticatedHttpRequest, patient: Patient) -> HttpResponse:
    context = {"patient": patient, "documents": queries.portal_documents(patient), "section": "documents"}
    return render(request, "portal/documents.html", context)


@require_GET
@patient_view
def document_download(request: AuthenticatedHttpRequest, patient: Patient, pk: int) -> HttpResponse:
    return document_response(get_own_document(request.user, pk), request, via="portal")


@require_http_methods(["GET", "POST"])
@patient_view
def contact_details(request: AuthenticatedHttpRequest, patient: Patient) -> HttpResponse:
    form = ContactDetailsForm(request.POST if request.method == "POST" else None, instance=patient)
    if request.method == "POST" and form.is_valid():
        services.contact_details_update(patient=form.instance, user=request.user)
        messages.success(request, "Your contact details are saved.")
        return redirect("portal:contact")
    context = {"patient": patient, "form": form, "section": "contact"}
    return render(request, "portal/contact.html", context, status=400 if form.is_bound else 200)


# --- Consent: the patient signs, or withdraws, their own consent to PIT ------------------------------------------


def _consent_context(patient: Patient) -> dict:
    """The current consent text and the patient's newest consent to it (valid, or withdrawn): two queries."""
    newest = patient_services.newest_consent(patient)
    valid = newest if newest is not None and newest.withdrawn_at is None else None
    return {
        "patient": patient,
        "consent_text": ConsentText.objects.current(),
        "valid": valid,
        "withdrawn": newest if valid is None else None,
        "section": "consent",
    }


@require_http_methods(["GET", "POST"])
@patient_view
def consent(request: AuthenticatedHttpRequest, patient: Patient) -> HttpResponse:
    """Read the current consent text and sign it: the full name as on the record and a tick; the time is the
    server's. Signing while a consent to this version is valid saves nothing and says so."""
    context = _consent_context(patient)
    consent_text = context["consent_text"]
    if request.method == "POST" and (consent_text is None or context["valid"] is not None):
        if consent_text is None:
            messages.info(request, "There is nothing to sign yet. The clinic will ask you when there is.")
        else:
            messages.info(
                request, f"You have already consented to version {consent_text.version}. Nothing was changed."
            )
        return redirect("portal:consent")
    form = ConsentSignForm(request.POST if request.method == "POST" else None, patient=patient)
    if request.method == "POST" and form.is_valid():
        try:
            with transaction.atomic():
                signed = patient_services.consent_record(
                    patient=patient,
                    consent_text=consent_text,
                    signed_name=form.cleaned_data["signed_name"],
                    by=request.user,
                    via=ConsentGiven.PORTAL,
                )
                detail = patient_services.consent_audit_detail(signed)
                record(Action.CONSENT_SIGNED, request=request, patient=patient, obj=signed, detail=detail)
        except ValidationError as error:
            messages.info(request, " ".join(error.messages) + " Nothing was changed.")
        else:
            messages.success(request, "Thank you. Your consent is recorded.")
        return redirect("portal:consent")
    context["form"] = form
    return render(request, "portal/consent.html", context, status=400 if form.is_bound else 200)


@require_GET
@patient_view
def consent_withdraw_confirm(request: AuthenticatedHttpRequest, patient: Patient) -> HttpResponse:
    """Ask the patient to confirm; the form posts to consent_withdraw."""
    context = _consent_context(patient)
    if context["valid"] is None:
        messages.info(request, "You have no consent on file to withdraw.")
        return redirect("portal:consent")
    return render(request, "portal/consent_withdraw.html", context)


@require_POST
@patient_view
def consent_withdraw(request: AuthenticatedHttpRequest, patient: Patient) -> HttpResponse:
    """Withdraw the patient's consent (after consent_withdraw_confirm). The clinic is told; new session notes are
    refused from that moment until the patient consents again."""
    try:
        with transaction.atomic():
            withdrawn = patient_services.consent_withdraw(patient=patient, via=ConsentGiven.PORTAL)
            detail = patient_services.consent_audit_detail(withdrawn, withdrawn=True)
            record(Action.CONSENT_WITHDRAWN, request=request, patient=patient, obj=withdrawn, detail=detail)
    except ValidationError:
        messages.info(request, "You have no consent on file to withdraw. Nothing was changed.")
    else:
        messages.success(request, "Your consent is withdrawn. The clinic has been told.")
    return redirect("portal:consent")
