from django.urls import path

from documents import views

app_name = "documents"

# Documents are never under a media URL: every byte goes out through `download`, which authorises and audits.
urlpatterns = [
    path("documents/<int:pk>/download/", views.download, name="download"),
    path("documents/<int:pk>/retry/", views.retry, name="retry"),
    path("documents/sessions/<int:pk>/status/", views.session_status, name="session_status"),
    path("documents/patients/<int:pk>/status/", views.patient_status, name="patient_status"),
]
