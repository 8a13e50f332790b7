"""The import pages, for those who manage the clinic: upload a file, match its columns, read the preview, import,
read the report (and download it as CSV). The worker does the checking and the importing (imports.services)."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.decorators import AuthenticatedHttpRequest, permission_required
from audit.exports import csv_download
from imports import reading, services
from imports.access import ADD_PERMISSION, VIEW_PERMISSION, get_import_for
from imports.forms import MappingForm, UploadForm
from imports.models import CsvImport, ImportRow, ImportStatus
from imports.presets import suggested_mapping

IMPORTS_PER_PAGE = 20
ROWS_PER_PAGE = 100
POLL_SECONDS = 2
# Room for the form's other fields and the multipart boundaries beside the file.
FORM_OVERHEAD_BYTES = 64 * 1024


def _list_page(
    request: AuthenticatedHttpRequest, form: UploadForm, status: int = 200, refusal: str = ""
) -> HttpResponse:
    imports = CsvImport.objects.select_related("uploaded_by").defer("content")
    page = Paginator(imports, IMPORTS_PER_PAGE).get_page(request.GET.get("page"))
    context = {"form": form, "page": page, "refusal": refusal}
    return render(request, "imports/import_list.html", context, status=status)


def _refused(request: AuthenticatedHttpRequest, form: UploadForm, message: str, status: int = 400) -> HttpResponse:
    """The upload form again, with why the file was refused."""
    return _list_page(request, form, status=status, refusal=message)


# The upload's size is checked before anything reads the body: CSRF's check reads the form, so it runs after.
@csrf_exempt
@require_http_methods(["GET", "POST"])
@permission_required(VIEW_PERMISSION)
def import_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The imports, newest first, and the upload form. An upload larger than IMPORTS_MAX_FILE_BYTES is refused
    (413) by its Content-Length before its body is read, or, when the header understates it, by FileSizeLimit
    while it arrives: never held in memory or on disk whole."""
    if request.method == "POST":
        if not request.user.has_perm(ADD_PERMISSION):
            raise PermissionDenied
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
        if declared > reading.max_bytes() + FORM_OVERHEAD_BYTES:
            return _too_large(request)
        # Before the body is read, Django's documented way: the handlers as a new list, the limit first.
        request.upload_handlers = [reading.FileSizeLimit(reading.max_bytes(), request), *request.upload_handlers]
    return _upload(request)


def _too_large(request: AuthenticatedHttpRequest) -> HttpResponse:
    response = _refused(request, UploadForm(), reading.too_large_message(), status=413)
    response["Connection"] = "close"  # the body was never read: the connection cannot carry another request
    return response


@csrf_protect
def _upload(request: AuthenticatedHttpRequest) -> HttpResponse:
    if request.method != "POST":
        return _list_page(request, UploadForm())
    form = UploadForm(request.POST, request.FILES)
    if any(isinstance(handler, reading.FileSizeLimit) and handler.exceeded for handler in request.upload_handlers):
        return _refused(request, form, reading.too_large_message(), status=413)
    if not form.is_valid():
        return _list_page(request, form, status=400)
    upload = form.cleaned_data["file"]
    try:
        csv_import = services.import_upload(
            by=request.user, kind=form.cleaned_data["kind"], file_name=upload.name, content=upload.read(),
            source_system=form.cleaned_data["source_system"], encoding=form.cleaned_data["encoding"],
            request=request,
        )  # fmt: skip
    except reading.UnreadableFile as error:
        return _refused(request, form, error.message)
    return redirect("imports:mapping", pk=csv_import.pk)


@require_http_methods(["GET", "POST"])
@permission_required(ADD_PERMISSION)
def import_mapping(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Match the file's columns to the portal's fields, starting from its system's preset."""
    csv_import = get_import_for(request.user, pk)
    initial = {f"map_{name}": column for name, column in _mapping_start(csv_import).items()}
    initial["date_order"] = csv_import.date_order
    form = MappingForm(request.POST or None, csv_import=csv_import, initial=initial)
    if request.method == "POST":
        if not form.is_valid():
            return _mapping_page(request, csv_import, form, status=400)
        try:
            services.import_map(
                csv_import=csv_import, mapping=form.mapping(), date_order=form.cleaned_data["date_order"],
                default_appointment_type=form.cleaned_data.get("default_appointment_type"),
            )  # fmt: skip
        except services.NotReady:
            return _not_ready(request, csv_import)
        return redirect("imports:detail", pk=csv_import.pk)
    return _mapping_page(request, csv_import, form)


def _mapping_start(csv_import: CsvImport) -> dict[str, str]:
    return csv_import.mapping or suggested_mapping(csv_import.header, csv_import.source_system, csv_import.kind)


def _mapping_page(request, csv_import: CsvImport, form: MappingForm, status: int = 200) -> HttpResponse:
    context = {"csv_import": csv_import, "form": form}
    return render(request, "imports/import_mapping.html", context, status=status)


def _not_ready(request: AuthenticatedHttpRequest, csv_import: CsvImport) -> HttpResponse:
    messages.warning(request, f"This import is {csv_import.get_status_display().lower()}: that step is not open.")
    return render(request, "imports/not_ready.html", {"csv_import": csv_import}, status=409)


@require_GET
@permission_required(VIEW_PERMISSION)
def import_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """The import as it stands: its progress while the worker works, then the preview (every row with its
    problems) or the report (what each row made, or why it was skipped). `?problems=1` lists skipped rows only."""
    csv_import = get_import_for(request.user, pk)
    rows = ImportRow.objects.filter(csv_import=csv_import).select_related("patient").order_by("number")
    only_problems = request.GET.get("problems") == "1"
    if only_problems:
        rows = rows.exclude(problems=[])
    page = Paginator(rows, ROWS_PER_PAGE).get_page(request.GET.get("page"))
    context = {
        "csv_import": csv_import, "page": page, "only_problems": only_problems, "poll_seconds": POLL_SECONDS,
        "done": services.progress_of(csv_import), "earlier": services.earlier_imports_of_file(csv_import).first(),
    }  # fmt: skip
    return render(request, "imports/import_detail.html", context)


@require_GET
@permission_required(VIEW_PERMISSION)
def import_progress(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """The progress box htmx asks for while the worker works; once it has finished, the page is reloaded."""
    csv_import = get_import_for(request.user, pk)
    response = render(
        request, "imports/_progress.html",
        {"csv_import": csv_import, "done": services.progress_of(csv_import), "poll_seconds": POLL_SECONDS},
    )  # fmt: skip
    if not csv_import.is_live:
        response["HX-Refresh"] = "true"
    return response


@require_POST
@permission_required(ADD_PERMISSION)
def import_confirm(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    csv_import = get_import_for(request.user, pk)
    try:
        services.import_confirm(csv_import=csv_import, by=request.user, request=request)
    except services.NotReady:
        return _not_ready(request, csv_import)
    messages.success(request, "Importing. It runs in the background; its progress shows below.")
    return redirect("imports:detail", pk=csv_import.pk)


@require_GET
@permission_required(VIEW_PERMISSION)
def report_csv(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse | StreamingHttpResponse:
    """Each row's outcome as CSV (its cells made safe for a spreadsheet by audit.exports); audited."""
    csv_import = get_import_for(request.user, pk)
    if csv_import.status not in (ImportStatus.CHECKED, ImportStatus.DONE):
        return _not_ready(request, csv_import)
    services.record_report_download(request, csv_import)
    rows = ImportRow.objects.filter(csv_import=csv_import).select_related("patient", "appointment").order_by("number")
    outcome = "created" if csv_import.status == ImportStatus.DONE else "to create"
    lines = (
        (row.number, row.label, "skipped" if row.problems else outcome,
         row.patient.clinic_number if row.patient else "", " | ".join(row.problems))
        for row in rows.iterator(chunk_size=1000)
    )  # fmt: skip
    header = ["row", "about", "outcome", "clinic number", "reasons"]
    return csv_download(f"import-{csv_import.pk}-report", header, lines)
