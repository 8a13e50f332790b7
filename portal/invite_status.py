"""The portal-access box on the staff patient page: whether the patient uses the portal, their newest
invitation, and the button that sends one."""

from django.db.models import QuerySet
from django.urls import reverse
from django.utils.safestring import SafeString

from accounts.models import User
from patients.models import Patient
from pit_portal.fragments import render_fragment
from pit_portal.prepared import PreparedQuery
from portal.models import PatientInvite


def _newest_invite(patient_id: int) -> QuerySet[PatientInvite]:
    return PatientInvite.objects.filter(patient_id=patient_id).order_by("-created_at", "-pk")[:1]


# On every patient page the front desk opens: compiled once (pit_portal.prepared).
NEWEST_INVITE = PreparedQuery(_newest_invite)


def invite_status_box(user: User, patient: Patient, csrf_token: str) -> SafeString:
    """The box (portal/jinja2/portal/_invite_status.html), or nothing for someone who may not invite. One query
    (the newest invitation), none when the patient already has an account."""
    if not user.has_perm("portal.add_patientinvite"):
        return SafeString("")
    context = {
        "patient": patient,
        "invite": None if patient.user_id else next(iter(NEWEST_INVITE.objects(patient.pk)), None),
        "invite_url": reverse("portal:invite_new", kwargs={"patient_pk": patient.pk}),
        "csrf_token": csrf_token,
    }
    return render_fragment("portal/_invite_status.html", context)
