from django.urls import path

from interop import views
from interop.bulk import views as bulk

app_name = "interop"

# FHIR's own path for the operation: Django's path() escapes the "$". The bulk export's files are never under a
# media URL: every byte goes out through `bulk.download`, which checks and audits it.
urlpatterns = [
    path("fhir/Patient/<id:pk>/$everything", views.patient_everything, name="patient_everything"),
    path("fhir/bulk-exports/", bulk.export_list, name="bulk_exports"),
    path("fhir/bulk-exports/<id:pk>/", bulk.export_detail, name="bulk_export"),
    path("fhir/bulk-exports/<id:pk>/progress/", bulk.export_progress, name="bulk_export_progress"),
    path("fhir/bulk-exports/<id:pk>/manifest.json", bulk.manifest, name="bulk_export_manifest"),
    path("fhir/bulk-exports/<id:pk>/<slug:resource_type>.ndjson", bulk.download, name="bulk_export_file"),
]
