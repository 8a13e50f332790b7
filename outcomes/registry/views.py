"""The managers' registry export pages: ask for an export of a period, follow its progress, download it once
ready. The zip goes out only through `download`, which checks its SHA-256 and audits it; never a public URL."""

import logging

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from accounts.decorators import AuthenticatedHttpRequest, permission_required
from documents.downloads import refused_download
from documents.storage import StorageUnavailable
from outcomes.models import RegistryExport
from outcomes.registry import services
from outcomes.registry.access import VIEW_PERMISSION, get_export_for
from outcomes.registry.forms import RegistryExportForm

logger = logging.getLogger(__name__)

EXPORTS_PER_PAGE = 20
POLL_SECONDS = 2
IN_PROGRESS = "Your previous export is still being prepared. Wait for it to finish, then ask for the next."


def _list_page(request: AuthenticatedHttpRequest, form: RegistryExportForm, status: int = 200) -> HttpResponse:
    exports = RegistryExport.objects.select_related("requested_by")
    page = Paginator(exports, EXPORTS_PER_PAGE).get_page(request.GET.get("page"))
    context = {"form": form, "page": page, "poll_seconds": POLL_SECONDS}
    return render(request, "outcomes/registry/export_list.html", context, status=status)


@require_http_methods(["GET", "POST"])
@permission_required(VIEW_PERMISSION)
def export_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The exports, newest first, with the form asking for a new one (POST: a period that makes no sense is a
    400 with its message; a second export while the manager's last is unfinished, 409)."""
    if request.method != "POST":
        return _list_page(request, RegistryExportForm())
    if not request.user.has_perm("outcomes.add_registryexport"):
        raise PermissionDenied
    form = RegistryExportForm(request.POST)
    if not form.is_valid():
        return _list_page(request, form, status=400)
    try:
        services.export_request(by=request.user, request=request, **form.cleaned_data)
    except services.ExportInProgress:
        form.add_error(None, IN_PROGRESS)
        return _list_page(request, form, status=409)
    messages.success(request, "Export requested. It is prepared in the background; its progress shows below.")
    return redirect("registry:exports")


@require_GET
@permission_required(VIEW_PERMISSION)
def export_progress(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """The export's row of the list, which htmx asks for again while the export is unfinished."""
    export = get_export_for(request.user, pk)
    return render(request, "outcomes/registry/_export_row.html", {"export": export, "poll_seconds": POLL_SECONDS})


def _refused(request: AuthenticatedHttpRequest, export: RegistryExport, reason: str, status: int) -> HttpResponse:
    return refused_download(
        request, "outcomes/registry/download_refused.html", {"export": export, "reason": reason}, status
    )


@require_GET
@permission_required(VIEW_PERMISSION)
def download(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """The zip as an attachment, once its SHA-256 is checked; audited (EXPORT, no patient). An export not ready
    is a 409 saying why, a store not answering a 503, a stored file missing or altered a 410 (and the export is
    failed, so it is offered no more)."""
    export = get_export_for(request.user, pk)
    if not export.is_ready:
        return _refused(request, export, "not_ready", 409)
    try:
        content = services.read_verified(export)
    except StorageUnavailable as error:
        logger.error("registry export %s could not be read for user %s: %s", export.pk, request.user.pk, error)
        return _refused(request, export, "unavailable", 503)
    if content is None:
        services.export_file_lost(export)
        return _refused(request, export, "lost", 410)
    services.record_download(request, export)
    requested_on = timezone.localdate(export.requested_at).isoformat()
    response = HttpResponse(content, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="registry-export-{requested_on}-{export.pk}.zip"'
    response["Content-Length"] = str(len(content))
    response["Cache-Control"] = "no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response
