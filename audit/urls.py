from django.urls import path

from audit import views

app_name = "audit"

urlpatterns = [
    path("audit/", views.event_list, name="events"),
    path("audit/export.csv", views.event_export, name="export"),
    path("audit/verify/", views.verify, name="verify"),
    path("patients/<id:pk>/disclosures/", views.disclosures, name="disclosures"),
    path("patients/<id:pk>/disclosures.csv", views.disclosures_export, name="disclosures_export"),
]
