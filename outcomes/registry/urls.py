from django.urls import path

from outcomes.registry import views

app_name = "registry"

# The zips are never under a media URL: every byte goes out through `download`, which checks and audits it.
urlpatterns = [
    path("", views.export_list, name="exports"),
    path("<id:pk>/progress/", views.export_progress, name="progress"),
    path("<id:pk>/download/", views.download, name="download"),
]
