from django.urls import path

from patients import history_views, views

app_name = "patients"

urlpatterns = [
    path("", views.patient_list, name="list"),
    path("new/", views.patient_register, name="register"),
    path("<id:pk>/", views.patient_detail, name="detail"),
    path("<id:pk>/edit/", views.patient_edit, name="edit"),
    path("<id:pk>/intake/", views.intake_edit, name="intake"),
    path("<id:pk>/consent/", views.consent_record, name="consent"),
    path("<id:pk>/consent/withdraw/", views.consent_withdraw, name="consent_withdraw"),
    path("<id:pk>/history/", history_views.patient_history, name="history"),
]
