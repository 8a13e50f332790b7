"""Adverse events followed up: the clinic-wide log with its rates and CSV, an event's follow-up page, and the
portal page where a patient reports a reaction after a visit."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from accounts.decorators import AuthenticatedHttpRequest, permission_required
from audit.exports import csv_download
from audit.models import Action
from audit.services import record
from patients.models import Patient
from portal.access import patient_view
from safety import queries, rates, services
from safety.access import FOLLOW_UP, get_adverse_event_for, get_delayed_reaction_for
from safety.forms import REPORTABLE_VISITS, FollowUpForm, PeriodForm, ReactionReportForm, default_period, initial_of
from safety.models import DelayedReaction, ReportedVia, follow_up_of
from treatments.models import AdverseEvent

VIEW_LOG = "safety.view_adverseeventfollowup"
CSV_HEADER = [
    "date",
    "patient",
    "clinic number",
    "session",
    "session date",
    "clinician",
    "recorded in",
    "kind",
    "severity",
    "status",
    "follow-up date",
]


def _period_form(request: AuthenticatedHttpRequest) -> PeriodForm:
    # Unbound without a query string, so the page opens on the default period with empty date boxes.
    return PeriodForm(request.GET if ("first" in request.GET or "last" in request.GET) else None)


def _log_page(request: AuthenticatedHttpRequest, form: PeriodForm) -> HttpResponse:
    valid = not form.is_bound or form.is_valid()
    context: dict = {"form": form, "flag_multiple": rates.FLAG_RATE_MULTIPLE, "flag_min": rates.FLAG_MIN_SESSIONS}
    if valid:
        period = form.period if form.is_bound else default_period()
        log = queries.event_log(period, request.user)
        context |= {
            "period": period,
            "events": log.events,
            "open_events": log.open_events,
            "rates": rates.period_rates(period),
            "query": request.GET.urlencode(),
        }
    return render(request, "safety/log.html", context, status=200 if valid else 400)


@require_GET
@permission_required(VIEW_LOG)
def event_log(request: AuthenticatedHttpRequest) -> HttpResponse:
    return _log_page(request, _period_form(request))


def _csv_row(event: queries.LoggedEvent) -> list:
    clinician = event.session.clinician
    return [
        event.on.isoformat(),
        event.patient.full_name,
        event.patient.clinic_number,
        event.session.number,
        timezone.localdate(event.session.performed_at).isoformat(),
        clinician.get_full_name() or clinician.get_username(),
        event.source,
        event.kind,
        event.severity,
        event.status,
        event.follow_up_on.isoformat() if event.follow_up_on else "",
    ]


@require_GET
@permission_required(VIEW_LOG)
def event_log_csv(request: AuthenticatedHttpRequest) -> HttpResponse | StreamingHttpResponse:
    form = _period_form(request)
    if form.is_bound and not form.is_valid():
        return _log_page(request, form)
    period = form.period if form.is_bound else default_period()
    events = queries.period_events(period)
    patients = sorted({event.patient.pk for event in events})
    detail = {
        "export": "adverse_event_log",
        "format": "csv",
        "filters": {"first": period.first.isoformat(), "last": period.last.isoformat()},
        "rows": len(events),
        "patients": patients,
    }
    record(Action.EXPORT, request=request, patient=patients[0] if len(patients) == 1 else None, detail=detail)
    return csv_download("adverse-events", CSV_HEADER, (_csv_row(event) for event in events))


# --- Follow-up of one event ------------------------------------------------------------------------------------


def _back(request: AuthenticatedHttpRequest, event: AdverseEvent | DelayedReaction) -> HttpResponse:
    """Back where the form was sent from: the log, or the event's session page (never a URL from the request)."""
    if request.POST.get("back") == "log":
        return redirect("safety:log")
    return redirect("treatments:session", pk=event.session_id)


def _follow_up(request: AuthenticatedHttpRequest, event: AdverseEvent | DelayedReaction) -> HttpResponse:
    delayed = isinstance(event, DelayedReaction)
    follow_up = follow_up_of(event)
    session = event.session
    context = {
        "event": event,
        "delayed": delayed,
        "session": session,
        "patient": event.patient if isinstance(event, DelayedReaction) else session.course.patient,
        "follow_up": follow_up,
        "back": request.POST.get("back", request.GET.get("back", "")),
    }
    if not session.is_signed:
        # Only a session event can belong to a draft (a delayed reaction follows a signed note).
        return render(request, "safety/follow_up.html", {**context, "draft": True}, status=409)
    form = FollowUpForm(request.POST or None, event=event, initial=initial_of(follow_up))
    if request.method == "POST" and form.is_valid():
        try:
            services.follow_up_update(
                event=event,
                status=form.cleaned_data["status"],
                follow_up_on=form.cleaned_data["follow_up_on"],
                resolution_note=form.cleaned_data["resolution_note"],
                by=request.user,
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            what = "delayed reaction" if delayed else "adverse event"
            messages.success(request, f"Follow-up of the {what} saved.")
            return _back(request, event)
    status = 400 if form.is_bound else 200
    return render(request, "safety/follow_up.html", {**context, "form": form}, status=status)


@require_http_methods(["GET", "POST"])
@permission_required(FOLLOW_UP)
def event_follow_up(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    return _follow_up(request, get_adverse_event_for(request.user, pk))


@require_http_methods(["GET", "POST"])
@permission_required(FOLLOW_UP)
def reaction_follow_up(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    return _follow_up(request, get_delayed_reaction_for(request.user, pk))


# --- The patient reports a reaction (portal) -------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@patient_view
def report_reaction(request: AuthenticatedHttpRequest, patient: Patient) -> HttpResponse:
    sessions = list(services.reportable_sessions(patient)[:REPORTABLE_VISITS])
    reported = list(DelayedReaction.objects.filter(patient=patient).select_related("follow_up")[:REPORTABLE_VISITS])
    context = {"patient": patient, "section": "reaction", "reported": reported, "has_visits": bool(sessions)}
    form = ReactionReportForm(request.POST or None, sessions=sessions)
    if request.method == "POST" and not sessions:
        # Nothing to attach it to: the service says so; the patient is pointed to the phone.
        context["no_session"] = services.NO_SIGNED_SESSION
        return render(request, "safety/report_reaction.html", {**context, "form": form}, status=409)
    if request.method == "POST" and form.is_valid():
        try:
            services.delayed_reaction_report(
                patient=patient,
                session=form.cleaned_data["session"],
                kind=form.cleaned_data["kind"],
                severity=form.cleaned_data["severity"],
                description=form.cleaned_data["description"],
                via=ReportedVia.PORTAL,
                by=request.user,
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, "Thank you. Your clinician will read this and contact you if needed.")
            return redirect("portal:home")
    status = 400 if form.is_bound else 200
    return render(request, "safety/report_reaction.html", {**context, "form": form}, status=status)
