from django.http import Http404

from accounts.models import User
from patients.models import Patient


def get_patient_for(user: User, pk: int) -> Patient:
    """The patient, if this user may see their record; otherwise 404, exactly as if missing.

    Every view that takes a patient id goes through here, so "not found" and
    "not yours" can never be told apart.
    """
    if not user.is_authenticated or not user.is_active:
        raise Http404
    patients = Patient.objects.select_related("intake")
    if not user.has_perm("patients.view_patient"):
        # A patient's own account reaches only their own record.
        patients = patients.filter(user=user)
    try:
        return patients.get(pk=pk)
    except Patient.DoesNotExist:
        raise Http404("No such patient.") from None
