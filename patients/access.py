from django.db.models import QuerySet
from django.http import Http404

from accounts.models import User
from audit.refusals import not_found
from patients.models import Patient


def get_patient_for(user: User, pk: int, patients: QuerySet[Patient] | None = None) -> Patient:
    """The patient, if this user may see their record; otherwise 404, exactly as if missing.

    Every view that takes a patient id goes through here, so "not found" and
    "not yours" can never be told apart (the second is audited as ACCESS_DENIED).
    Pass `patients` to read the record with more (annotations, related rows) in the same query.
    """
    if not user.is_authenticated or not user.is_active:
        raise Http404
    patients = (patients if patients is not None else Patient.objects.all()).select_related("intake")
    others = Patient.objects.none()  # staff who may see patients see them all: a miss is a missing id
    if not user.has_perm("patients.view_patient"):
        # A patient's own account reaches only their own record.
        patients = patients.filter(user=user)
        others = Patient.objects.exclude(user=user)
    try:
        return patients.get(pk=pk)
    except Patient.DoesNotExist:
        raise not_found("patient", pk, others, patient_field="pk") from None
