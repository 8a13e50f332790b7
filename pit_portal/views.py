from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from audit.models import Action
from audit.services import record

REASON_MAX = 200


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """A plain-language page instead of Django's technical one; the reason is not shown, but it is kept in
    the audit trail (Django's reasons name a missing token or a refused origin, never form contents)."""
    record(Action.CSRF_FAILED, request=request, detail={"reason": reason[:REASON_MAX], "method": request.method})
    return render(request, "403_csrf.html", status=403)
