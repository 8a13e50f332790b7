from django.db.models import QuerySet
from django.http import Http404

from accounts.models import User
from audit.refusals import not_found
from patients.models import Patient
from pit_portal.prepared import PreparedQuery


def get_patient_for(user: User, pk: int, patients: QuerySet[Patient] | PreparedQuery | None = None) -> Patient:
    """The patient, if this user may see their record; otherwise 404, exactly as if missing.

    Every view that takes a patient id goes through here, so "not found" and
    "not yours" can never be told apart (the second is audited as ACCESS_DENIED).
    Pass `patients` to read the record with more (annotations, related rows) in the same query: a queryset,
    or a PreparedQuery of the patient by id (with their intake), for a page read often.
    """
    if not user.is_authenticated or not user.is_active:
        raise Http404
    if isinstance(patients, PreparedQuery):
        return _prepared_patient_for(user, pk, patients)
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


def _prepared_patient_for(user: User, pk: int, record: PreparedQuery) -> Patient:
    """get_patient_for with the record read by a prepared query: the same answer, the same refusals."""
    found = next(iter(record.objects(pk)), None) if isinstance(pk, int) else None
    sees_everyone = user.has_perm("patients.view_patient")
    if found is not None and (sees_everyone or found.user_id == user.pk):
        return found
    others = Patient.objects.none() if sees_everyone else Patient.objects.exclude(user=user)
    raise not_found("patient", pk, others, patient_field="pk")
