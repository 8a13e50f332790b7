from django.contrib import admin
from django.urls import include, path

admin.site.site_header = "PIT Portal administration"
admin.site.site_title = "PIT Portal"

urlpatterns = [
    path("", include("accounts.urls")),
    path("patients/", include("patients.urls")),
    path("admin/", admin.site.urls),
]
