from django.urls import path

from patients import history_views, views

app_name = "patients"

urlpatterns = [
    path("", views.patient_list, name="list"),
    path("new/", views.patient_register, name="register"),
    path("<int:pk>/", views.patient_detail, name="detail"),
    path("<int:pk>/edit/", views.patient_edit, name="edit"),
    path("<int:pk>/intake/", views.intake_edit, name="intake"),
    path("<int:pk>/consent/", views.consent_record, name="consent"),
    path("<int:pk>/history/", history_views.patient_history, name="history"),
]
