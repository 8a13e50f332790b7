from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts.decorators import AuthenticatedHttpRequest, permission_required
from assessments.models import AssessmentKind
from audit.models import Action
from audit.services import record, record_page_view
from patients.access import get_patient_for
from patients.services import newest_consent
from portal.queries import check_in_for_session_form
from treatments import doses, durability, progress, reported, services
from treatments.access import get_course_for, get_session_for
from treatments.forms import (
    AddendumForm,
    AdverseEventFormSet,
    CourseCloseForm,
    CourseForm,
    SessionForm,
    SiteFormSet,
    active_nerves,
    entered_sites,
)
from treatments.models import InjectionSession
from treatments.queries import course_assessments, course_check_ins, course_measure_requests, course_sessions
from treatments.signature import signature_matches


@permission_required("treatments.add_treatmentcourse")
def course_new(request: AuthenticatedHttpRequest, patient_pk: int) -> HttpResponse:
    patient = get_patient_for(request.user, patient_pk)
    baseline = patient.assessments.filter(kind=AssessmentKind.INITIAL, course__isnull=True).first()
    initial = {}
    if baseline is not None:
        initial = {
            "condition": baseline.condition_id,
            "planned_sessions": baseline.proposed_sessions or 6,
            "interval_days": baseline.proposed_interval_days or 7,
        }
    form = CourseForm(request.POST or None, initial=initial, patient=patient)
    if request.method == "POST" and form.is_valid():
        course = services.course_start(
            patient=patient, baseline_assessment=baseline, by=request.user, **form.cleaned_data
        )
        messages.success(request, "Course started.")
        return redirect("treatments:course", pk=course.pk)
    return render(request, "treatments/course_new.html", {"form": form, "patient": patient, "baseline": baseline})


@permission_required("treatments.view_treatmentcourse")
def course_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    course = get_course_for(request.user, pk)
    record_page_view(request, Action.RECORD_VIEWED, patient=course.patient, obj=course)
    clinical = request.user.has_perm("treatments.view_injectionsession")
    sessions = list(course_sessions(course.pk))
    # What was asked is for all staff who see the course (the front desk can add a missing email address); what
    # the patient answered is clinical content.
    requests = list(course_measure_requests(course.pk, with_answers=clinical))
    context = {
        "course": course,
        "patient": course.patient,
        "clinical": clinical,
        "measure_requests": reported.request_lines(requests, timezone.now()),
        "session_rows": [(session, None) for session in sessions],
        "sessions": sessions,
    }
    if clinical:
        assessments = list(course_assessments(course.pk))
        answers = reported.reported_answers(reported.answered_reports(requests), course_check_ins(course))
        pain = reported.reported_pain(answers)
        relief = durability.relief_by_session(sessions, pain, course.interval_days)
        context |= {
            "progress": progress.course_progress(course, sessions=sessions, assessments=assessments, reported=pain),
            "reported_answers": answers,
            "session_rows": [(session, relief.get(session.number)) for session in sessions],
        }
    return render(request, "treatments/course_detail.html", context)


@permission_required("treatments.change_treatmentcourse")
def course_close(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Close an active course with its outcome; the form on its own page (GET, or a POST with errors, 400)."""
    course = get_course_for(request.user, pk)
    if not course.is_active:
        messages.info(request, "This course is already closed.")
        return redirect("treatments:course", pk=course.pk)
    form = CourseCloseForm(request.POST or None, course=course)
    if request.method == "POST" and form.is_valid():
        services.course_close(course=course, **form.cleaned_data)
        messages.success(request, f"Course marked {course.get_status_display().lower()}.")
        return redirect("treatments:course", pk=course.pk)
    status = 400 if request.method == "POST" else 200
    context = {"course": course, "patient": course.patient, "form": form}
    return render(request, "treatments/course_close.html", context, status=status)


@require_POST
@permission_required("treatments.change_treatmentcourse")
def course_reopen(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    course = get_course_for(request.user, pk)
    if course.is_active:
        messages.info(request, "This course is already active.")
    else:
        services.course_reopen(course=course)
        messages.success(request, "Course reopened; its end-of-course questions not yet answered were cancelled.")
    return redirect("treatments:course", pk=course.pk)


def _edit_session(request: AuthenticatedHttpRequest, session: InjectionSession) -> HttpResponse:
    # What the patient reported at check-in raises precautions, so it is read for a save as for a view.
    check_in = check_in_for_session_form(session.course.patient)
    data = request.POST if request.method == "POST" else None
    additive = data.get("additive", session.additive) if data else session.additive
    # The newest consent to the current text, valid or withdrawn (one query, for a form opened only): a withdrawn
    # one is shown as a warning at the top of the form.
    consent = newest_consent(session.course.patient) if data is None else None
    form = SessionForm(
        data,
        instance=session,
        alerts=services.session_alerts(intake=session.course.patient.intake, additive=additive, check_in=check_in),
        # A note is saved only with valid consent, which the save looks up itself (in its transaction) and
        # refuses without, as a form error: asking here too would cost each save one more query.
        has_valid_consent=data is not None or (consent is not None and consent.withdrawn_at is None),
    )
    sites = SiteFormSet(data, instance=session, prefix="sites", form_kwargs={"nerves": active_nerves()})
    events = AdverseEventFormSet(data, instance=session, prefix="events")
    if data is not None and all([form.is_valid(), sites.is_valid(), events.is_valid()]):
        try:
            session = services.session_save_draft(
                session=form.instance, sites=sites, adverse_events=events, by=request.user
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, f"Draft of session {session.number} saved. Check it, then sign.")
            return redirect("treatments:session", pk=session.pk)
    # The dextrose given is drawn from the values as entered (validated above) and read with one query, so only
    # for a form that is drawn; the precautions are drawn with it (their save-stopping ones do not depend on it).
    dose = doses.dose_summary(form.instance, entered_sites(sites))
    form.alerts = services.session_alerts(
        intake=session.course.patient.intake, additive=additive, check_in=check_in, dose=dose
    )
    context = {
        "form": form,
        "sites": sites,
        "events": events,
        "session": session,
        "course": session.course,
        "check_in": check_in,
        "dose": dose,
        "withdrawn": consent if consent is not None and consent.withdrawn_at is not None else None,
    }
    return render(request, "treatments/session_form.html", context)


@permission_required("treatments.add_injectionsession")
def session_new(request: AuthenticatedHttpRequest, course_pk: int) -> HttpResponse:
    course = get_course_for(request.user, course_pk)
    if not course.is_active:
        messages.error(request, "This course is closed: start a new course to record more sessions.")
        return redirect("treatments:course", pk=course.pk)
    # The new note's form shows the patient's precautions and check-in answers.
    record_page_view(request, Action.RECORD_VIEWED, patient=course.patient, obj=course)
    # A posted form sets every field the previous session would pre-fill.
    prefill = request.method != "POST"
    return _edit_session(request, services.new_session_for(course, by=request.user, prefill=prefill))


@permission_required("treatments.change_injectionsession")
def session_edit(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    session = get_session_for(request.user, pk)
    record_page_view(request, Action.RECORD_VIEWED, patient=session.course.patient, obj=session)
    if session.is_signed:
        messages.error(request, "This session is signed and can no longer be changed. Add an addendum instead.")
        return _session_page(request, session, status=409)
    return _edit_session(request, session)


def _session_page(
    request: AuthenticatedHttpRequest, session: InjectionSession, *, status: int = 200, addendum_form=None
):
    sites = list(session.sites.select_related("nerve"))
    # Each event with its follow-up (safety), which the page shows beside it.
    adverse_events = list(session.adverse_events.select_related("follow_up"))
    dose = doses.dose_summary(session, [(site.points, site.volume_per_point_ml) for site in sites])
    context = {
        "session": session,
        "course": session.course,
        "patient": session.course.patient,
        "sites": sites,
        "adverse_events": adverse_events,
        "addenda": session.addenda.select_related("author"),
        "alerts": services.session_alerts(intake=session.course.patient.intake, additive=session.additive, dose=dose),
        "dose": dose,
        "addendum_form": addendum_form or AddendumForm(),
        "total_volume_ml": dose.this_note.volume_ml,
        "signature_broken": _signature_broken(request, session, sites, adverse_events),
    }
    return render(request, "treatments/session_detail.html", context, status=status)


def _signature_broken(request: AuthenticatedHttpRequest, session: InjectionSession, sites, adverse_events) -> bool:
    """A signed note no longer matching its SHA-256 was changed in the database after signing: the clinician is
    warned and each showing is audited. Checked on the rows the page shows, so it costs no query."""
    if not session.is_signed or signature_matches(session, sites=sites, adverse_events=adverse_events):
        return False
    detail = {"shown_in": "session page"}
    record(Action.SIGNED_NOTE_ALTERED, request=request, patient=session.course.patient, obj=session, detail=detail)
    return True


@permission_required("treatments.view_injectionsession")
def session_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    session = get_session_for(request.user, pk)
    record_page_view(request, Action.RECORD_VIEWED, patient=session.course.patient, obj=session)
    return _session_page(request, session)


@require_POST
@permission_required("treatments.sign_injectionsession")
def session_sign(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    session = get_session_for(request.user, pk)
    try:
        session = services.session_sign(session=session, by=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return _session_page(request, session, status=409)
    messages.success(request, f"Session {session.number} signed.")
    if request.POST.get("then") == "book_next":
        return redirect(f"{reverse('scheduling:book_next')}?session={session.pk}")
    return redirect("treatments:session", pk=session.pk)


@require_POST
@permission_required("treatments.add_sessionaddendum")
def session_addendum(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    session = get_session_for(request.user, pk)
    form = AddendumForm(request.POST)
    if form.is_valid():
        try:
            services.addendum_add(session=session, text=form.cleaned_data["text"], by=request.user)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, "Addendum added.")
            return redirect("treatments:session", pk=session.pk)
    return _session_page(request, session, addendum_form=form)


@permission_required("treatments.add_injectionsession")
def site_row(request: AuthenticatedHttpRequest) -> HttpResponse:
    """One more empty site row for the session form (htmx), numbered after the rows already there."""
    try:
        index = int(request.GET.get("sites-TOTAL_FORMS", "0"))
    except ValueError:
        index = 0
    if not 0 <= index < SiteFormSet.max_num:
        return HttpResponse("No more sites can be added.", status=400)
    form = SiteFormSet(prefix="sites").empty_form
    form.prefix = f"sites-{index}"
    return render(request, "treatments/_site_row.html", {"row": form, "total_forms": index + 1})
