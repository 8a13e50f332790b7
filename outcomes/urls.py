from django.urls import path

from outcomes import views

app_name = "outcomes"

urlpatterns = [
    path("outcomes/report/", views.report, name="report"),
    path("outcomes/report/export/", views.report_export, name="report_export"),
]
