from django.shortcuts import get_object_or_404

from accounts.models import User
from imports.models import CsvImport

VIEW_PERMISSION = "imports.view_csvimport"
ADD_PERMISSION = "imports.add_csvimport"


def get_import_for(user: User, pk: int) -> CsvImport:
    """An import the user may see (every import, for those who manage the clinic), without the file's bytes;
    404 otherwise, as for an id that does not exist."""
    imports = CsvImport.objects.select_related("uploaded_by").defer("content")
    if not user.has_perm(VIEW_PERMISSION):
        imports = imports.none()
    return get_object_or_404(imports, pk=pk)
