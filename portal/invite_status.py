"""The portal-access box on the staff patient page: whether the patient uses the portal, their newest
invitation, and the button that sends one."""

from django.db.models import FilteredRelation, OuterRef, Q, Subquery
from django.http import HttpRequest
from django.template.loader import render_to_string

from patients.models import Patient
from portal.models import PatientInvite


def newest_invite_relation() -> FilteredRelation:
    """The patient's newest invitation, for select_related as `newest_invite` (absent when there is none)."""
    newest = PatientInvite.objects.filter(patient=OuterRef("pk")).order_by("-created_at", "-pk").values("pk")[:1]
    return FilteredRelation("invites", condition=Q(invites__pk=Subquery(newest)))


def invite_status_box(request: HttpRequest, patient: Patient) -> str:
    """The box (portal/_invite_status.html), or nothing for someone who may not invite. `patient` is read with
    their newest invitation (patients.views.patient_page_record)."""
    if not request.user.has_perm("portal.add_patientinvite"):
        return ""
    invite = None if patient.user_id else getattr(patient, "newest_invite", None)
    return render_to_string("portal/_invite_status.html", {"patient": patient, "invite": invite}, request=request)
