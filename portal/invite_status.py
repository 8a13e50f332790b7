"""The portal-access box on the staff patient page: whether the patient uses the portal, their newest
invitation, and the button that sends one."""

from django.urls import reverse
from django.utils.safestring import SafeString

from accounts.models import User
from patients.models import Patient
from pit_portal.fragments import render_fragment


def invite_status_box(user: User, patient: Patient, csrf_token: str) -> SafeString:
    """The box (portal/jinja2/portal/_invite_status.html), or nothing for someone who may not invite. One query
    (the newest invitation), none when the patient already has an account."""
    if not user.has_perm("portal.add_patientinvite"):
        return SafeString("")
    context = {
        "patient": patient,
        "invite": None if patient.user_id else patient.invites.first(),
        "invite_url": reverse("portal:invite_new", kwargs={"patient_pk": patient.pk}),
        "csrf_token": csrf_token,
    }
    return render_fragment("portal/_invite_status.html", context)
