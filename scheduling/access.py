from django.http import Http404
from django.shortcuts import get_object_or_404

from accounts.models import User
from audit.refusals import not_found
from scheduling.models import Appointment


def get_appointment_for(user: User, pk: int) -> Appointment:
    """The appointment, if this user may see the diary; otherwise 404, exactly as if missing.

    Every view that takes an appointment id goes through here, so "not found" and
    "not yours" can never be told apart.
    """
    if not (user.is_authenticated and user.is_active):
        raise Http404
    if not user.has_perm("scheduling.view_appointment"):
        raise not_found("appointment", pk, Appointment.objects.all())
    related = ("patient", "clinician", "appointment_type", "course__condition", "created_by")
    return get_object_or_404(Appointment.objects.select_related(*related), pk=pk)
