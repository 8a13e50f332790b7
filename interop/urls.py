from django.urls import path

from interop import views

app_name = "interop"

# FHIR's own path for the operation: Django's path() escapes the "$".
urlpatterns = [
    path("fhir/Patient/<id:pk>/$everything", views.patient_everything, name="patient_everything"),
]
