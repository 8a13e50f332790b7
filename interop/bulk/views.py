"""The managers' FHIR bulk export pages: ask for an export, follow its progress, download its NDJSON files and read
its manifest. Files go out only through `download`, which checks their SHA-256 and audits them; never a public URL."""

import logging

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.files.storage import default_storage
from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.http import FileResponse, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from accounts.decorators import AuthenticatedHttpRequest, permission_required
from documents.downloads import refused_download
from documents.storage import StorageUnavailable, store_errors
from interop.bulk import services
from interop.bulk.access import ADD_PERMISSION, VIEW_PERMISSION, get_bulk_export_file_for, get_bulk_export_for
from interop.models import BulkExport, BulkExportFile

logger = logging.getLogger(__name__)

EXPORTS_PER_PAGE = 20
POLL_SECONDS = 2
IN_PROGRESS = "An export is already being prepared. Wait for it to finish, then ask for the next."
NDJSON = "application/fhir+ndjson"


def _with_files(exports):
    return exports.select_related("requested_by").prefetch_related(
        Prefetch("files", queryset=BulkExportFile.objects.order_by("resource_type"))
    )


def _list_page(request: AuthenticatedHttpRequest, error: str = "", status: int = 200) -> HttpResponse:
    page = Paginator(_with_files(BulkExport.objects.all()), EXPORTS_PER_PAGE).get_page(request.GET.get("page"))
    context = {"page": page, "poll_seconds": POLL_SECONDS, "error": error}
    return render(request, "interop/bulk/export_list.html", context, status=status)


@require_http_methods(["GET", "POST"])
@permission_required(VIEW_PERMISSION)
def export_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The exports, newest first, with the button asking for a new one (POST; while another is unfinished, 409)."""
    if request.method != "POST":
        return _list_page(request)
    if not request.user.has_perm(ADD_PERMISSION):
        raise PermissionDenied
    try:
        export = services.export_request(by=request.user, request=request)
    except services.ExportInProgress:
        return _list_page(request, IN_PROGRESS, status=409)
    messages.success(request, "Export requested. It is prepared in the background; its progress shows below.")
    return redirect("interop:bulk_export", pk=export.pk)


def _export_context(export: BulkExport) -> dict:
    counts = sorted(export.counts.items())
    return {"export": export, "counts": counts, "poll_seconds": POLL_SECONDS}


@require_GET
@permission_required(VIEW_PERMISSION)
def export_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """One export: its progress (polled while unfinished), resources per type, and its files once ready."""
    export = get_bulk_export_for(request.user, pk)
    return render(request, "interop/bulk/export_detail.html", _export_context(export))


@require_GET
@permission_required(VIEW_PERMISSION)
def export_progress(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """The export's status block, which htmx asks for again while the export is unfinished."""
    export = get_bulk_export_for(request.user, pk)
    return render(request, "interop/bulk/_export_status.html", _export_context(export))


@require_GET
@permission_required(VIEW_PERMISSION)
def manifest(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """The export's manifest as FHIR Bulk Data's status request answers it once complete: transactionTime, and per
    file its type, address and count. An export not ready is a 409 saying why."""
    export = get_bulk_export_for(request.user, pk)
    if not export.is_ready:
        return JsonResponse({"error": f"The export is not ready ({export.get_status_display().lower()})."}, status=409)
    assert export.transaction_time is not None  # the database refuses a ready export without it
    output = [
        {"type": f.resource_type, "url": request.build_absolute_uri(_file_url(export, f)), "count": f.count}
        for f in export.files.order_by("resource_type")
    ]
    body = {
        "transactionTime": export.transaction_time.isoformat(),
        "request": request.build_absolute_uri(reverse("interop:bulk_export", args=[export.pk])),
        "requiresAccessToken": True,
        "output": output,
        "error": [],
    }
    response = JsonResponse(body, json_dumps_params={"indent": 2})
    response["Cache-Control"] = "no-store"
    return response


def _file_url(export: BulkExport, export_file: BulkExportFile) -> str:
    return reverse("interop:bulk_export_file", args=[export.pk, export_file.resource_type])


def _refused(request: AuthenticatedHttpRequest, export: BulkExport, reason: str, status: int) -> HttpResponse:
    return refused_download(request, "interop/bulk/download_refused.html", {"export": export, "reason": reason}, status)


@require_GET
@permission_required(VIEW_PERMISSION)
def download(request: AuthenticatedHttpRequest, pk: int, resource_type: str) -> HttpResponseBase:
    """One NDJSON file as an attachment, streamed once its SHA-256 is checked; audited (EXPORT, no one patient). A
    file of an export not ready is a 409, a store not answering a 503, a stored file missing or altered a 410 (and
    the export is failed, so it is offered no more)."""
    export = get_bulk_export_for(request.user, pk)
    if not export.is_ready:
        return _refused(request, export, "not_ready", 409)
    export_file = get_bulk_export_file_for(request.user, pk, resource_type)
    try:
        verified = services.file_verified(export_file)
        if verified:
            with store_errors():
                stored = default_storage.open(export_file.file_name, "rb")
    except StorageUnavailable as error:
        logger.error("FHIR bulk export %s could not be read for user %s: %s", export.pk, request.user.pk, error)
        return _refused(request, export, "unavailable", 503)
    if not verified:
        services.export_file_lost(export)
        return _refused(request, export, "lost", 410)
    services.record_download(request, export, export_file)
    response = FileResponse(stored, as_attachment=True, filename=f"export-{export.pk}-{export_file.download_name}")
    response["Content-Type"] = NDJSON
    response["Content-Length"] = str(export_file.size_bytes)
    response["Cache-Control"] = "no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response
