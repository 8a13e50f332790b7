from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone

from accounts.decorators import AuthenticatedHttpRequest, permission_required
from assessments import services
from assessments.access import get_assessment_for
from assessments.bodymap import BodyMapForm
from assessments.forms import ActivityFormSet, AnalgesicFormSet, AssessmentForm, NerveFormSet
from assessments.models import DN4_ITEMS, Assessment, AssessmentKind, nerve_choices
from audit.models import Action
from audit.services import record_page_view
from patients.access import get_patient_for
from pit_portal.ids import parse_id
from treatments.models import TreatmentCourse


def _review_course(request: HttpRequest, patient) -> TreatmentCourse | None:
    course_id = request.GET.get("course") or request.POST.get("course")
    if not course_id:
        return None
    try:
        return patient.courses.get(pk=parse_id(course_id))
    except TreatmentCourse.DoesNotExist:
        raise Http404("No such course.") from None


@permission_required("assessments.add_assessment")
def assessment_new(request: AuthenticatedHttpRequest, patient_pk: int) -> HttpResponse:
    patient = get_patient_for(request.user, patient_pk)
    course = _review_course(request, patient)
    kind = AssessmentKind.REVIEW if course else AssessmentKind.INITIAL
    data = request.POST if request.method == "POST" else None
    assessment = Assessment(patient=patient, course=course, kind=kind, clinician=request.user)
    initial: dict[str, object] = {"assessed_at": timezone.localtime().replace(second=0, microsecond=0)}
    if course:
        initial["condition"] = course.condition_id
    form = AssessmentForm(data, instance=assessment, kind=kind, initial=initial)
    body_map = BodyMapForm(data, prefix="map")
    activities = ActivityFormSet(data, instance=assessment, prefix="activities")
    from_intake = patient.intake.medications.filter(is_analgesic=True).values("drug", "dose", "doses_per_week")
    analgesics = AnalgesicFormSet(data, instance=assessment, prefix="analgesics", initial=list(from_intake))
    nerves = NerveFormSet(data, instance=assessment, prefix="nerves", form_kwargs={"nerve_choices": nerve_choices()})
    parts = [form, body_map, activities, analgesics, nerves]
    if data is not None and all(part.is_valid() for part in parts):
        assessment = services.assessment_record(
            assessment=form.instance,
            pain_areas=body_map.cleaned_areas(),
            activities=activities,
            analgesics=analgesics,
            nerves=nerves,
            by=request.user,
        )
        messages.success(request, f"{assessment.get_kind_display()} saved.")
        return redirect("assessments:detail", pk=assessment.pk)
    context = {
        "patient": patient,
        "course": course,
        "kind": kind,
        "form": form,
        "body_map": body_map,
        "activities": activities,
        "analgesics": analgesics,
        "nerves": nerves,
    }
    return render(request, "assessments/assessment_form.html", context)


@permission_required("assessments.view_assessment")
def assessment_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    assessment = get_assessment_for(request.user, pk)
    record_page_view(request, Action.RECORD_VIEWED, patient=assessment.patient, obj=assessment)
    activities = list(assessment.activities.all())
    context = {
        "assessment": assessment,
        "patient": assessment.patient,
        "pain_areas": list(assessment.pain_areas.all()),
        "activities": activities,
        "psfs_score": assessment.psfs_score(activities),
        "analgesics": list(assessment.analgesics.all()),
        "nerves": list(assessment.nerves.select_related("nerve")),
        "dn4_items": [(wording, getattr(assessment, field)) for field, wording in DN4_ITEMS],
    }
    return render(request, "assessments/assessment_detail.html", context)
