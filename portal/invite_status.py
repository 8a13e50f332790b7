"""The portal-access box on the staff patient page: whether the patient uses the portal, their newest
invitation, and the button that sends one."""

from django.db.models import OuterRef, QuerySet
from django.utils.safestring import SafeString

from accounts.models import User
from patients.models import Patient
from pit_portal.fragments import IdLinks, render_fragment
from pit_portal.json_rows import as_instances
from portal.models import PatientInvite

# What the box shows of an invitation and needs to tell whether it is still open.
INVITE_LINKS = {"new": "portal:invite_new"}
INVITE_FIELDS = ["id", "email", "created_at", "expires_at", "used_at", "revoked_at"]


def newest_invite_of(patient_id: int | OuterRef) -> QuerySet[PatientInvite]:
    """The patient's newest invitation, as a queryset (of the patient in an outer query, given OuterRef)."""
    return PatientInvite.objects.filter(patient_id=patient_id).order_by("-created_at", "-pk")[:1]


def newest_invite(patient: Patient) -> PatientInvite | None:
    """The patient's newest invitation: from `invite_rows` when their record was read with it (the patient page's
    record, patients.views.patient_page_record), else with a query."""
    rows = getattr(patient, "invite_rows", None)
    if rows is None:
        return newest_invite_of(patient.pk).first()
    return next(iter(as_instances(PatientInvite, rows)), None)


def invite_status_box(user: User, patient: Patient, csrf_token: str) -> SafeString:
    """The box (portal/jinja2/portal/_invite_status.html), or nothing for someone who may not invite. At most one
    query (the newest invitation): none when the patient already has an account or was read with it."""
    if not user.has_perm("portal.add_patientinvite"):
        return SafeString("")
    context = {
        "patient": patient,
        "invite": None if patient.user_id else newest_invite(patient),
        "invite_url": IdLinks.reversed(INVITE_LINKS).to("new", patient.pk),
        "csrf_token": csrf_token,
    }
    return render_fragment("portal/_invite_status.html", context)
