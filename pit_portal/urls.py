from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("", include("accounts.urls")),
    path("patients/", include("patients.urls")),
    path("", include("assessments.urls")),
    path("", include("treatments.urls")),
    path("", include("scheduling.urls")),
    path("", include("documents.urls")),
    path("portal/", include("portal.urls")),
    path("", include("outcomes.urls")),
    path("safety/", include("safety.urls")),
    path("", include("interop.urls")),
    path("", include("audit.urls")),
    path("registry-exports/", include("outcomes.registry.urls")),
    path("imports/", include("imports.urls")),
    path("admin/", admin.site.urls),
]

handler500 = "pit_portal.views.server_error"
