from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import FilteredRelation, OuterRef, Q, QuerySet, Subquery
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST
from django.views.decorators.vary import vary_on_headers

from accounts.decorators import AuthenticatedHttpRequest, permission_required
from audit.models import Action
from audit.services import record, record_page_view
from documents.status import patient_box
from patients import search, services
from patients.access import get_patient_for
from patients.forms import (
    ConsentForm,
    ConsentWithdrawForm,
    IntakeForm,
    MedicationFormSet,
    PatientForm,
    PatientSearchForm,
    RegisterPatientForm,
)
from patients.models import ConsentGiven, ConsentText, Patient, PatientConsent
from portal.invite_status import invite_status_box, newest_invite_relation
from portal.models import CheckIn
from scheduling.booking_links import book_url, sessions_to_book_next
from treatments.sections import clinical_sections


@permission_required("patients.view_patient")
# The same URL answers a whole page or, for htmx, just the results: caches must tell them apart,
# or the browser's Back button shows the bare results table.
@vary_on_headers("HX-Target")
def patient_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = PatientSearchForm(request.GET or None)
    query = form.cleaned_data["q"] if form.is_valid() else ""
    page = search.patient_search_page(query, request.GET.get("page"))
    context = {"form": form, "query": query, "page": page}
    if request.headers.get("HX-Target") == "patient-results":
        return render(request, "patients/_patient_results.html", context)
    return render(request, "patients/patient_list.html", context)


@permission_required("patients.add_patient")
def patient_register(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = RegisterPatientForm(request.POST or None)
    duplicates = []
    if request.method == "POST" and form.is_valid():
        duplicates = list(services.likely_duplicates(form.instance))
        # With possible matches, show them and save only once the user confirms.
        if not duplicates or form.cleaned_data["not_a_duplicate"]:
            patient = services.patient_register(patient=form.instance, by=request.user)
            messages.success(request, f"{patient.full_name} registered as {patient.clinic_number}.")
            return redirect("patients:intake", pk=patient.pk)
    return render(request, "patients/patient_register.html", {"form": form, "duplicates": duplicates})


def patient_page_record() -> QuerySet[Patient]:
    """The patient with their intake's conditions and medications, their valid consent (with its witness), the
    current consent text's version and their newest portal invitation."""
    current = ConsentText.objects.filter(published_at__isnull=False).order_by("-version")
    # At most one row: a patient has one unwithdrawn consent per consent text (consent_once_per_text_version).
    valid = Q(consents__consent_text=services.current_consent_text_id(), consents__withdrawn_at__isnull=True)
    # The newest withdrawal of consent to the current text, shown as a warning while no valid consent replaces it.
    withdrawn = PatientConsent.objects.filter(
        patient=OuterRef("pk"), consent_text=services.current_consent_text_id(), withdrawn_at__isnull=False
    ).order_by("-withdrawn_at")
    return (
        Patient.objects.annotate(
            current_consent_version=Subquery(current.values("version")[:1]),
            consent_withdrawn_at=Subquery(withdrawn.values("withdrawn_at")[:1]),
            consent_withdrawn_via=Subquery(withdrawn.values("withdrawn_via")[:1]),
            valid_consent=FilteredRelation("consents", condition=valid),
            newest_invite=newest_invite_relation(),
        )
        # The plugin checks the names against the model's fields only, not against FilteredRelation aliases.
        .select_related("intake", "valid_consent__witnessed_by", "newest_invite")  # type: ignore[misc]
        .prefetch_related("intake__conditions", "intake__medications")
    )


def _booking_links(user, patient: Patient, sections: dict) -> dict:
    """The appointments card's Book button and the sessions' Book next links, for those who may book."""
    if not user.has_perm("scheduling.add_appointment"):
        return {"book_url": "", "book_next": set()}
    appointments = sections["appointments"]
    return {
        "book_url": book_url(patient.pk, sections["courses"]),
        "book_next": sessions_to_book_next(sections["courses"], appointments) if appointments is not None else set(),
    }


@permission_required("patients.view_patient")
def patient_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """The patient page, as `request.user` may see it: the clinical sections, appointments, documents and portal
    box only for the roles that may see them."""
    patient = get_patient_for(request.user, pk, patient_page_record())
    record_page_view(request, Action.PATIENT_VIEWED, patient=patient)
    user = request.user
    sections = clinical_sections(user, patient)
    context = {
        **sections,
        **_booking_links(user, patient, sections),
        "patient": patient,
        "intake": patient.intake,
        # A patient without a valid consent has no valid_consent attribute at all (the join found no row).
        "consent": getattr(patient, "valid_consent", None),
        "invite_box": invite_status_box(request, patient),
        "documents_box": patient_box(request, patient.pk) if user.has_perm("documents.view_document") else "",
    }
    return render(request, "patients/patient_detail.html", context)


@permission_required("patients.change_patient")
def patient_edit(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    patient = get_patient_for(request.user, pk)
    form = PatientForm(request.POST or None, instance=patient)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "Details saved.")
        return redirect("patients:detail", pk=patient.pk)
    return render(request, "patients/patient_edit.html", {"form": form, "patient": patient})


def _news_from_check_in(request: AuthenticatedHttpRequest, patient: Patient) -> tuple[CheckIn | None, dict, list[dict]]:
    """The patient's check-in named by `?check_in=` (only one of their own), and what it reported as initial
    values for the medical background's form and a new medication row: offered, saved only once staff save."""
    check_in_id = request.GET.get("check_in", "")
    check_in = None
    if request.method == "GET" and check_in_id.isdigit():
        check_in = CheckIn.objects.filter(pk=int(check_in_id), patient=patient).first()
    if check_in is None:
        return None, {}, []
    initial: dict = {}
    if check_in.new_blood_thinner:
        initial["anticoagulant_or_bleeding_disorder"] = True
    if check_in.pregnant:
        initial["pregnant_or_breastfeeding"] = True
    if check_in.new_allergy:
        allergies = [patient.intake.other_allergies, check_in.new_allergy_details]
        initial["other_allergies"] = "; ".join(allergy for allergy in allergies if allergy)[:500]
    drug = check_in.new_medication_details if check_in.new_medication else ""
    return check_in, initial, [{"drug": drug[:120]}] if drug else []


@permission_required("patients.change_intake")
def intake_edit(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    patient = get_patient_for(request.user, pk)
    intake = patient.intake
    record_page_view(request, Action.RECORD_VIEWED, patient=patient, obj=intake)
    check_in, initial, new_medications = _news_from_check_in(request, patient)
    form = IntakeForm(request.POST or None, instance=intake, initial=initial)
    medications = MedicationFormSet(
        request.POST or None, instance=intake, prefix="medications", initial=new_medications
    )
    if request.method == "POST" and form.is_valid() and medications.is_valid():
        with transaction.atomic():
            intake = form.save(commit=False)
            intake.updated_by = request.user
            intake.save()
            form.save_m2m()
            medications.save()
        messages.success(request, "Medical background saved.")
        if services.valid_consent(patient) is None:
            return redirect("patients:consent", pk=patient.pk)
        return redirect("patients:detail", pk=patient.pk)
    context = {"form": form, "medications": medications, "patient": patient, "check_in": check_in}
    return render(request, "patients/intake_edit.html", context)


@permission_required("patients.add_patientconsent")
def consent_record(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Record the patient's consent at the desk; while it is valid, the page shows it with a way to withdraw it."""
    patient = get_patient_for(request.user, pk)
    consent_text = ConsentText.objects.current()
    if consent_text is None:
        messages.error(request, "No consent text is published yet. A manager can publish one in the admin.")
        return redirect("patients:detail", pk=patient.pk)
    newest = services.newest_consent(patient)
    valid = newest if newest is not None and newest.withdrawn_at is None else None
    if valid is not None and request.method == "POST":
        messages.info(request, f"{patient.full_name} has already consented to the current version.")
        return redirect("patients:detail", pk=patient.pk)
    form = ConsentForm(request.POST or None, patient=patient)
    if request.method == "POST" and form.is_valid():
        try:
            with transaction.atomic():
                consent = services.consent_record(
                    patient=patient,
                    consent_text=consent_text,
                    signed_name=form.cleaned_data["signed_name"],
                    by=request.user,
                )
                record(
                    Action.CONSENT_SIGNED,
                    request=request,
                    patient=patient,
                    obj=consent,
                    detail=services.consent_audit_detail(consent),
                )
        except ValidationError as error:
            messages.info(request, " ".join(error.messages))
        else:
            messages.success(request, f"Consent to version {consent_text.version} recorded.")
        return redirect("patients:detail", pk=patient.pk)
    context = {
        "form": form,
        "patient": patient,
        "consent_text": consent_text,
        "valid": valid,
        "withdrawn": newest if valid is None else None,
        "withdraw_form": ConsentWithdrawForm(),
    }
    return render(request, "patients/consent_record.html", context, status=400 if form.is_bound else 200)


@require_POST
@permission_required("patients.add_patientconsent")
def consent_withdraw(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Withdraw the patient's consent at the desk (told by the patient in person, by phone or by letter)."""
    patient = get_patient_for(request.user, pk)
    form = ConsentWithdrawForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(str(error) for error in form.errors.get("reason", [])))
        return redirect("patients:consent", pk=patient.pk)
    try:
        with transaction.atomic():
            consent = services.consent_withdraw(
                patient=patient, via=ConsentGiven.DESK, reason=form.cleaned_data["reason"]
            )
            detail = services.consent_audit_detail(consent, withdrawn=True)
            record(Action.CONSENT_WITHDRAWN, request=request, patient=patient, obj=consent, detail=detail)
    except ValidationError as error:
        messages.info(request, " ".join(error.messages) + " Nothing was changed.")
    else:
        messages.success(
            request, "Consent withdrawn. No new session notes can be saved until the patient consents again."
        )
    return redirect("patients:detail", pk=patient.pk)
