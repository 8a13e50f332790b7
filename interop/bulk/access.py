"""Who may see which FHIR bulk export: the clinic's managers see every one (an export is the clinic's, not one
manager's); anyone else gets the 404 a missing id gets."""

from django.http import Http404

from interop.models import BulkExport, BulkExportFile

VIEW_PERMISSION = "interop.view_bulkexport"
ADD_PERMISSION = "interop.add_bulkexport"


def get_bulk_export_for(user, pk: int) -> BulkExport:
    if not user.is_authenticated or not user.has_perm(VIEW_PERMISSION):
        raise Http404("No such export.")
    try:
        return BulkExport.objects.select_related("requested_by").get(pk=pk)
    except BulkExport.DoesNotExist:
        raise Http404("No such export.") from None


def get_bulk_export_file_for(user, pk: int, resource_type: str) -> BulkExportFile:
    if not user.is_authenticated or not user.has_perm(VIEW_PERMISSION):
        raise Http404("No such file.")
    try:
        return BulkExportFile.objects.select_related("export").get(export_id=pk, resource_type=resource_type)
    except BulkExportFile.DoesNotExist:
        raise Http404("No such file.") from None
