"""The patient's "Get a copy of my record" page and the copy's download. The zip goes out only through
`download`, which checks its SHA-256 and audits it; never a public URL."""

import logging

from django.contrib import messages
from django.http import FileResponse, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.utils import dateformat, timezone
from django.views.decorators.http import require_GET, require_http_methods

from accounts.decorators import AuthenticatedHttpRequest
from documents.downloads import refused_download
from documents.storage import StorageUnavailable
from patients.models import Patient
from portal.access import get_own_record_copy, patient_view
from portal.models import CopyStatus, RecordCopy
from portal.record_copy import services

logger = logging.getLogger(__name__)

# Copies listed under the newest: enough to show what was asked for lately.
EARLIER_SHOWN = 5
POLL_SECONDS = 2


def _when(moment) -> str:
    return dateformat.format(timezone.localtime(moment), r"l j F \a\t H:i")


def _page(request: AuthenticatedHttpRequest, patient: Patient, status: int = 200, **extra) -> HttpResponse:
    copies = list(services.recent_copies(patient)[: EARLIER_SHOWN + 1])
    context = {
        "patient": patient,
        "newest": copies[0] if copies else None,
        "earlier": copies[1:],
        "keep_days": services.keep_for().days,
        "every_hours": int(services.asked_every().total_seconds() // 3600),
        "poll_seconds": POLL_SECONDS,
        "now": timezone.now(),
        "section": "copy",
        **extra,
    }
    return render(request, "portal/record_copy/page.html", context, status=status)


@require_http_methods(["GET", "POST"])
@patient_view
def record_copy(request: AuthenticatedHttpRequest, patient: Patient) -> HttpResponse:
    """What a copy holds, the newest copy's state (polled while it is being prepared) and the button to ask for one.
    Asking while one is being prepared shows that one; asking again too soon is a 429 saying from when."""
    if request.method != "POST":
        return _page(request, patient)
    try:
        asked = services.copy_request(patient=patient, by=request.user)
    except services.TooSoon as too_soon:
        error = (
            f"You asked for a copy on {_when(too_soon.last.requested_at)}. "
            f"You can ask for a new one from {_when(too_soon.next_at)}."
        )
        return _page(request, patient, status=429, error=error)
    if asked.created:
        messages.success(request, "We are preparing your copy. It usually takes a minute; we will email you too.")
    else:
        messages.info(request, "Your copy is already being prepared. Nothing new was asked for.")
    return redirect("portal:record_copy")


def _refused(request: AuthenticatedHttpRequest, copy: RecordCopy, reason: str, status: int) -> HttpResponse:
    return refused_download(
        request,
        "portal/record_copy/unavailable.html",
        {"copy": copy, "reason": reason, "section": "copy", "patient": copy.patient},
        status,
    )


@require_GET
@patient_view
def download(request: AuthenticatedHttpRequest, patient: Patient, pk: int) -> HttpResponseBase:
    """The zip as an attachment, once its SHA-256 is checked; audited (EXPORT, via the portal). Expired: 410 saying
    to ask for a new one. Not ready yet: 409. Failed, or its stored file missing or altered: 410 (and it is offered
    no more). The store not answering: 503, try again."""
    copy = get_own_record_copy(request.user, pk)
    if copy.has_expired():
        return _refused(request, copy, "expired", 410)
    if copy.status == CopyStatus.FAILED:
        return _refused(request, copy, "failed", 410)
    if not copy.is_downloadable():
        return _refused(request, copy, "not_ready", 409)
    try:
        spool = services.open_verified(copy)
    except StorageUnavailable as error:
        logger.error("record copy %s could not be read for user %s: %s", copy.pk, request.user.pk, error)
        return _refused(request, copy, "unavailable", 503)
    if spool is None:
        services.copy_file_lost(copy)
        return _refused(request, copy, "damaged", 410)
    services.record_download(request, copy)
    ready_on = timezone.localdate(copy.ready_at).isoformat()
    response = FileResponse(
        spool, as_attachment=True, filename=f"my-record-{ready_on}.zip", content_type="application/zip"
    )
    response["Cache-Control"] = "no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response
