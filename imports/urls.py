from django.urls import path

from imports import views

app_name = "imports"

urlpatterns = [
    path("", views.import_list, name="list"),
    path("<id:pk>/", views.import_detail, name="detail"),
    path("<id:pk>/columns/", views.import_mapping, name="mapping"),
    path("<id:pk>/progress/", views.import_progress, name="progress"),
    path("<id:pk>/import/", views.import_confirm, name="confirm"),
    path("<id:pk>/report.csv", views.report_csv, name="report_csv"),
]
