from django.urls import path

from patients import data_request_views, history_views, views

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
    path("data-requests/", data_request_views.data_requests_open, name="data_requests_open"),
    path("<id:pk>/data-requests/", data_request_views.data_request_list, name="data_requests"),
    path("<id:pk>/data-requests/new/", data_request_views.data_request_new, name="data_request_new"),
    path(
        "<id:pk>/data-requests/<id:request_pk>/decide/",
        data_request_views.data_request_decide_view,
        name="data_request_decide",
    ),
]
