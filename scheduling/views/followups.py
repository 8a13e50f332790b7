"""Follow-up booking pages: the next session of a course in one click, the rest of the series with a
report of every clash, and the recall list of courses with nothing in the diary."""

from datetime import datetime

from django import forms
from django.contrib import messages
from django.core.exceptions import BadRequest, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils import timezone

from accounts.decorators import AuthenticatedHttpRequest, permission_required
from accounts.models import User
from scheduling import followups
from scheduling.models import Appointment
from scheduling.queries import recall_list
from scheduling.services import SlotTaken, clinicians
from treatments.forms import DateTimeInput
from treatments.models import MAX_INTERVAL_DAYS, InjectionSession, TreatmentCourse

RECALL_PER_PAGE = 50
# Booking needs the diary; knowing which course to book for needs sight of courses (dates, status).
BOOKING_PERMS = ("scheduling.add_appointment", "treatments.view_treatmentcourse")
RECALL_PERMS = ("scheduling.view_appointment", "treatments.view_treatmentcourse")


class _ClinicianField(forms.ModelChoiceField):
    def label_from_instance(self, obj) -> str:
        return obj.get_full_name() or obj.username


class NextSessionForm(forms.Form):
    clinician = _ClinicianField(queryset=User.objects.none(), empty_label=None)
    starts_at = forms.DateTimeField(label="Date and time", widget=DateTimeInput())

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["clinician"].queryset = clinicians()  # read for each form: clinicians come and go

    def clean_starts_at(self) -> datetime:
        starts_at = self.cleaned_data["starts_at"]
        if starts_at <= timezone.now():
            raise forms.ValidationError("Choose a time that is still to come.")
        return starts_at


class SeriesForm(NextSessionForm):
    every_days = forms.IntegerField(label="Every (days)", min_value=1, max_value=MAX_INTERVAL_DAYS)
    count = forms.IntegerField(label="How many", min_value=1, max_value=followups.MAX_SERIES)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["starts_at"].label = "First appointment"


def _stored(results: list[followups.SeriesResult]) -> list[dict]:
    return [
        {"wanted": r.wanted.isoformat(), "starts_at": r.starts_at and r.starts_at.isoformat(), "note": r.note}
        for r in results
    ]


def _loaded(stored: list[dict]) -> list[followups.SeriesResult]:
    """The report kept across the redirect after booking: its appointments carry only their time."""
    return [
        followups.SeriesResult(
            datetime.fromisoformat(r["wanted"]),
            Appointment(starts_at=datetime.fromisoformat(r["starts_at"])) if r["starts_at"] else None,
            r["note"],
        )
        for r in stored
    ]


def _id_param(request: AuthenticatedHttpRequest, name: str) -> int | None:
    value = request.GET.get(name, "")
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise Http404(f"No such {name}.") from None


def _course_and_session(request: AuthenticatedHttpRequest) -> tuple[TreatmentCourse, InjectionSession | None]:
    """The course from ?course= or ?session= (the session's course); both given must agree."""
    course_id, session_id = _id_param(request, "course"), _id_param(request, "session")
    session = None
    if session_id is not None:
        session = get_object_or_404(InjectionSession.objects.select_related("clinician"), pk=session_id)
        if course_id is not None and course_id != session.course_id:
            raise BadRequest("That session is not part of that course.")
        course_id = session.course_id
    if course_id is None:
        raise BadRequest("Say which course or session to book from.")
    course = get_object_or_404(TreatmentCourse.objects.select_related("patient", "condition"), pk=course_id)
    return course, session


def _refused(request: AuthenticatedHttpRequest, course: TreatmentCourse, message: str) -> HttpResponse:
    context = {"course": course, "patient": course.patient, "message": message}
    return render(request, "scheduling/followup_refused.html", context, status=409)


def _next_page(request, course, session, form, *, alternatives=(), status=200) -> HttpResponse:
    proposal = followups.next_session_proposal(course=course, session=session)
    if form is None:
        starts_at = proposal.starts_at or proposal.wanted
        form = NextSessionForm(initial={"clinician": proposal.clinician, "starts_at": timezone.localtime(starts_at)})
    context = {
        "course": course,
        "patient": course.patient,
        "session": session,
        "proposal": proposal,
        "form": form,
        "alternatives": alternatives,
    }
    return render(request, "scheduling/followup_next.html", context, status=status)


def _book_next_post(request: AuthenticatedHttpRequest, course: TreatmentCourse, session) -> HttpResponse:
    form = NextSessionForm(request.POST)
    if form.is_valid():
        try:
            appointment = followups.next_session_book(course=course, by=request.user, **form.cleaned_data)
        except SlotTaken as taken:
            form.add_error("starts_at", taken)
            return _next_page(request, course, session, form, alternatives=taken.alternatives, status=409)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            when = timezone.localtime(appointment.starts_at)
            who = appointment.clinician.get_full_name() or appointment.clinician.username
            messages.success(request, f"Session booked for {when:%a %d/%m/%Y at %H:%M} with {who}.")
            return redirect("treatments:course", pk=course.pk)
    return _next_page(request, course, session, form)


@permission_required(*BOOKING_PERMS)
def book_next(request: AuthenticatedHttpRequest) -> HttpResponse:
    """GET proposes the next session of the course; POST books it (one click on the proposal)."""
    course, session = _course_and_session(request)
    if not course.is_active:
        return _refused(request, course, followups.closed_message(course))
    try:
        if request.method == "POST":
            return _book_next_post(request, course, session)
        return _next_page(request, course, session, None)
    except ValidationError as error:  # no PIT session appointment type to book
        return _refused(request, course, " ".join(error.messages))


def _report_key(course: TreatmentCourse) -> str:
    return f"scheduling.series_report.{course.pk}"


def _series_page(request, course, form, *, preview=None, report=None) -> HttpResponse:
    context = {
        "course": course,
        "patient": course.patient,
        "form": form,
        "preview": preview,
        "report": report,
        "remaining": followups.remaining_sessions(course),
    }
    return render(request, "scheduling/followup_series.html", context)


def _series_form(course: TreatmentCourse, session) -> SeriesForm:
    proposal = followups.next_session_proposal(course=course, session=session)
    remaining = followups.remaining_sessions(course)
    initial = {
        "clinician": proposal.clinician,
        "starts_at": timezone.localtime(proposal.wanted),
        "every_days": course.interval_days,
        "count": min(remaining, followups.MAX_SERIES),
    }
    return SeriesForm(initial=initial)


def _series_post(request: AuthenticatedHttpRequest, course: TreatmentCourse) -> HttpResponse:
    form = SeriesForm(request.POST)
    if not form.is_valid():
        return _series_page(request, course, form)
    data = form.cleaned_data
    series = {
        "patient": course.patient,
        "clinician": data["clinician"],
        "appointment_type": followups.pit_session_type(),
        "first_starts_at": data["starts_at"],
        "every_days": data["every_days"],
        "count": data["count"],
        "by": request.user,
        "course": course,
    }
    if "confirm" not in request.POST:
        return _series_page(request, course, form, preview=followups.series_preview(**series))
    results = followups.series_book(**series)
    # Redirect after booking, so that reloading the report cannot book the series a second time.
    request.session[_report_key(course)] = _stored(results)
    booked = sum(result.booked is not None for result in results)
    messages.success(request, f"{booked} of {len(results)} appointments booked.")
    return redirect(f"{reverse('scheduling:book_series')}?course={course.pk}")


@permission_required(*BOOKING_PERMS)
def book_series(request: AuthenticatedHttpRequest) -> HttpResponse:
    """GET: the series form (or, just after booking, its report). POST: a preview of what would be
    booked, clashes and alternatives included; POST with `confirm`: book them."""
    course, session = _course_and_session(request)
    if not course.is_active:
        return _refused(request, course, followups.closed_message(course))
    try:
        if request.method == "POST":
            return _series_post(request, course)
        stored = request.session.pop(_report_key(course), None)
        if stored is not None:
            return _series_page(request, course, None, report=_loaded(stored))
        return _series_page(request, course, _series_form(course, session))
    except ValidationError as error:  # the course closed meanwhile, or no PIT session type
        return _refused(request, course, " ".join(error.messages))


@permission_required(*RECALL_PERMS)
def recall(request: AuthenticatedHttpRequest) -> HttpResponse:
    page = Paginator(recall_list(), RECALL_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "scheduling/recall.html", {"page": page})


urlpatterns = [
    path("followups/next/", book_next, name="book_next"),
    path("followups/series/", book_series, name="book_series"),
    path("recall/", recall, name="recall"),
]
