"""Refusals written to the audit trail, whichever view or decorator raised them."""

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from audit.models import Action
from audit.refusals import RefusedObject
from audit.services import record


class AccessDeniedAuditMiddleware:
    """Writes ACCESS_DENIED for a signed-in user refused a page (PermissionDenied, answered 403) or an id that
    exists but is not theirs (RefusedObject, answered 404 as if missing). It only writes: the response is the
    one Django would give anyway.

    Place after AuthenticationMiddleware (it reads request.user). It runs after the view has returned, so
    after any transaction the view opened: the audit row's lock is not held by a request's own work.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> None:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None  # anonymous visitors are sent to sign in, not refused
        if isinstance(exception, PermissionDenied):
            record(Action.ACCESS_DENIED, request=request, detail=_permission_detail(request))
        elif isinstance(exception, RefusedObject):
            detail = {"reason": "not_theirs", "kind": exception.kind, "id": exception.object_id}
            record(Action.ACCESS_DENIED, request=request, patient=exception.patient_id, detail=detail)
        return None


def _permission_detail(request: HttpRequest) -> dict:
    match = getattr(request, "resolver_match", None)
    return {"reason": "permission", "view": match.view_name if match else "", "method": request.method}
