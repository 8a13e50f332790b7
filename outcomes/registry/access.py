"""Who may see which registry export: the clinic's managers see every one (an export is the clinic's, not one
manager's); anyone else gets the 404 a missing id gets."""

from django.http import Http404

from outcomes.models import RegistryExport

VIEW_PERMISSION = "outcomes.view_registryexport"


def get_export_for(user, pk: int) -> RegistryExport:
    if not user.is_authenticated or not user.has_perm(VIEW_PERMISSION):
        raise Http404("No such export.")
    try:
        return RegistryExport.objects.select_related("requested_by").get(pk=pk)
    except RegistryExport.DoesNotExist:
        raise Http404("No such export.") from None
