"""Where patients answer the between-visit questions: in the portal when signed in, or through the emailed link.

The link opens that one form and nothing else: no name, no appointment, no record. It is refused once answered,
cancelled or expired, with a page that says so (410), and every opening and answer is audited."""

from collections.abc import Callable
from functools import partial

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from accounts.decorators import AuthenticatedHttpRequest
from accounts.models import User
from audit.models import Action
from audit.services import record
from outcomes import services
from outcomes.forms import MeasureAnswerForm
from outcomes.models import EnteredVia, MeasureRequest
from patients.models import Patient
from portal.access import patient_view


def answer_form(request: HttpRequest, measure_request: MeasureRequest) -> MeasureAnswerForm:
    offer_reaction = services.reaction_can_be_reported(measure_request.patient)
    data = request.POST if request.method == "POST" else None
    return MeasureAnswerForm(data, request=measure_request, offer_reaction=offer_reaction)


def _keep(
    request: HttpRequest, form: MeasureAnswerForm, measure_request: MeasureRequest, *, by: User | None,
    form_again: Callable[[], HttpResponse],
) -> HttpResponse | None:  # fmt: skip
    """Keep the valid answers (by the signed-in patient, or through the link when `by` is None), audited; None once
    kept. Nothing is kept when the request closed meanwhile (the 410 page) or the reaction was refused (the form
    again, `form_again`, with the reason)."""
    via = EnteredVia.LINK if by is None else EnteredVia.PORTAL
    try:
        services.report_record(
            request_id=measure_request.pk, answers=form.cleaned_data, via=via, by=by, reaction=form.reaction
        )
    except services.RequestClosed as closed:
        return render(request, "outcomes/answer_closed.html", {"reason": closed.reason}, status=410)
    except ValidationError as refused:
        form.add_error(None, refused)
        return form_again()
    record(Action.MEASURES_ANSWERED, request=request, patient=measure_request.patient_id, obj=measure_request)
    return None


@never_cache
@require_http_methods(["GET", "POST"])
def answer_by_link(request: HttpRequest, token: str) -> HttpResponse:
    measure_request = services.request_from_token(token)
    if measure_request is None:
        return render(request, "outcomes/answer_unknown.html", status=404)
    if request.user.is_authenticated:
        # Staff on a shared computer must not answer as the patient; a patient answers in the portal.
        return render(request, "outcomes/answer_signed_in.html", status=403)
    closed = services.why_closed(measure_request)
    if closed:
        return render(request, "outcomes/answer_closed.html", {"reason": closed}, status=410)
    form = answer_form(request, measure_request)
    if request.method == "POST":
        form_again = partial(render, request, "outcomes/answer_by_link.html", {"form": form}, status=400)
        if not form.is_valid():
            return form_again()
        refused = _keep(request, form, measure_request, by=None, form_again=form_again)
        return refused or render(request, "outcomes/answer_thanks.html")
    record(Action.MEASURES_LINK_OPENED, request=request, patient=measure_request.patient_id, obj=measure_request)
    return render(request, "outcomes/answer_by_link.html", {"form": form})


def _own_request(patient: Patient, pk: int) -> MeasureRequest:
    found = MeasureRequest.objects.select_related("course__condition", "appointment", "patient").filter(
        pk=pk, patient=patient
    )
    measure_request = found.first()
    if measure_request is None:
        raise Http404("No such questions.")
    return measure_request


@never_cache
@require_http_methods(["GET", "POST"])
@patient_view
def answer_in_portal(request: AuthenticatedHttpRequest, patient: Patient, pk: int) -> HttpResponse:
    measure_request = _own_request(patient, pk)
    closed = services.why_closed(measure_request)
    context = {"section": "home", "request_": measure_request}
    if closed:
        return render(request, "outcomes/portal_answer_closed.html", {**context, "reason": closed}, status=410)
    form = answer_form(request, measure_request)
    if request.method == "POST":
        form_again = partial(render, request, "outcomes/portal_answer.html", {**context, "form": form}, status=400)
        if not form.is_valid():
            return form_again()
        refused = _keep(request, form, measure_request, by=request.user, form_again=form_again)
        if refused is not None:
            return refused
        messages.success(request, "Thank you: your answers are in your record for your clinician to see.")
        return redirect("portal:home")
    return render(request, "outcomes/portal_answer.html", {**context, "form": form})
