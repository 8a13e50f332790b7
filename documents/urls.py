from django.urls import path

from documents import views

app_name = "documents"

# Documents are never under a media URL: every byte goes out through `download`, which authorises and audits.
urlpatterns = [
    path("documents/<id:pk>/download/", views.download, name="download"),
    path("documents/<id:pk>/retry/", views.retry, name="retry"),
    path("documents/sessions/<id:pk>/status/", views.session_status, name="session_status"),
    path("documents/patients/<id:pk>/status/", views.patient_status, name="patient_status"),
]
