import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string

from audit.models import Action
from audit.services import record

REASON_MAX = 200


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """A plain-language page instead of Django's technical one; the reason is not shown, but it is kept in
    the audit trail (Django's reasons name a missing token or a refused origin, never form contents)."""
    record(Action.CSRF_FAILED, request=request, detail={"reason": reason[:REASON_MAX], "method": request.method})
    return render(request, "403_csrf.html", status=403)


# A request that failed because the database could not be reached (PgBouncer or PostgreSQL restarting, a network
# blip) is not a fault in the portal or the request: nothing of it was saved (its transaction never committed),
# and trying again shortly will work. It is answered 503 with Retry-After, so the person and a load balancer
# both know. The page is rendered without a context: nothing on it may need the database.
UNAVAILABLE_RETRY_AFTER_SECONDS = 30


def server_error(request: HttpRequest) -> HttpResponse:
    """Django's handler500, called while the uncaught exception is being handled."""
    if isinstance(sys.exc_info()[1], (OperationalError, InterfaceError)):
        response = HttpResponse(render_to_string("503.html"), status=503)
        response["Retry-After"] = str(UNAVAILABLE_RETRY_AFTER_SECONDS)
        response["Cache-Control"] = "no-store"
        return response
    return HttpResponse(render_to_string("500.html"), status=500)
