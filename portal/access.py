"""Who may open the patient portal, and which of its objects.

Every id in a portal URL is resolved here. Another patient's id and an id that does not exist
give the same 404, and each refused guess is logged with the user id and object id only (no PHI),
so repeated probing shows up in the logs without the logs becoming a record of anyone's care.
"""

import functools
import logging
from collections.abc import Callable

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest
from django.http.response import HttpResponseBase
from django.shortcuts import render

from accounts.models import Role, User
from audit.refusals import not_found
from documents.access import get_document_for
from documents.models import Document
from patients.models import Patient
from portal.models import RecordCopy
from scheduling.models import Appointment

logger = logging.getLogger(__name__)


def is_portal_user(user: User) -> bool:
    return user.is_authenticated and user.is_active and user.has_role(Role.PATIENT)


def own_patient(user: User) -> Patient | None:
    """The patient record linked to this sign-in, if any."""
    if not is_portal_user(user):
        return None
    patient = Patient.objects.filter(user_id=user.pk).order_by("pk").first()
    if patient is not None:
        patient.user = user  # also fills user.patient, which the documents' visibility rule reads
    return patient


def patient_view(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """For portal pages: anonymous users are sent to sign in, staff and outsiders get 403,
    and the view receives the signed-in patient's own record as its second argument."""

    @functools.wraps(view)
    def guarded(request: HttpRequest, *args, **kwargs) -> HttpResponseBase:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not is_portal_user(request.user):
            raise PermissionDenied
        patient = own_patient(request.user)
        if patient is None:
            # A patient sign-in whose record was unlinked (merged, or removed by the clinic).
            return render(request, "portal/not_linked.html", status=403)
        return view(request, patient, *args, **kwargs)

    return guarded


def _log_refusal(kind: str, user: User, pk: int) -> None:
    logger.warning("portal: refused %s %s for user %s", kind, pk, user.pk)


def _refused(kind: str, user: User, pk: int, model) -> Http404:
    """The 404 for a refused id, logged; a RefusedObject (audited as ACCESS_DENIED) when the id is a `model`
    row of someone else's."""
    _log_refusal(kind, user, pk)
    if not user.is_authenticated:
        return Http404(f"No such {kind}.")
    return not_found(kind, pk, model.objects.exclude(patient__user=user))


def get_own_appointment(user: User, pk: int) -> Appointment:
    """The appointment if it belongs to this patient user; otherwise 404, exactly as if missing."""
    if not is_portal_user(user):
        raise _refused("appointment", user, pk, Appointment)
    appointments = Appointment.objects.select_related("clinician", "patient").filter(patient__user=user)
    try:
        return appointments.get(pk=pk)
    except Appointment.DoesNotExist:
        raise _refused("appointment", user, pk, Appointment) from None


def get_own_document(user: User, pk: int) -> Document:
    """The document through the documents app's own rule (own, ready, current), with the refusal logged
    (documents.access already tells someone else's document from a missing one)."""
    if not is_portal_user(user):
        raise _refused("document", user, pk, Document)
    try:
        return get_document_for(user, pk)
    except Http404:
        _log_refusal("document", user, pk)
        raise


def get_own_record_copy(user: User, pk: int) -> RecordCopy:
    """The copy of the record if it is this patient user's own; otherwise 404, exactly as if missing."""
    if not is_portal_user(user):
        raise _refused("record copy", user, pk, RecordCopy)
    try:
        return RecordCopy.objects.get(pk=pk, patient__user=user)
    except RecordCopy.DoesNotExist:
        raise _refused("record copy", user, pk, RecordCopy) from None
