from django.urls import path

from outcomes import views as outcomes_views
from portal import views
from portal.record_copy import views as copy_views

app_name = "portal"

urlpatterns = [
    path("", views.home, name="home"),
    path("appointments/<id:pk>/calendar.ics", views.appointment_ics, name="appointment_ics"),
    path("appointments/<id:pk>/cancel/", views.appointment_cancel, name="appointment_cancel"),
    path("appointments/<id:pk>/check-in/", views.check_in, name="check_in"),
    path("documents/", views.documents, name="documents"),
    path("documents/<id:pk>/download/", views.document_download, name="document_download"),
    path("contact/", views.contact_details, name="contact"),
    path("consent/", views.consent, name="consent"),
    path("consent/withdraw/", views.consent_withdraw_confirm, name="consent_withdraw_confirm"),
    path("consent/withdrawal/", views.consent_withdraw, name="consent_withdraw"),
    path("copy/", copy_views.record_copy, name="record_copy"),
    path("copy/<id:pk>/download/", copy_views.download, name="record_copy_download"),
    path("questions/<id:pk>/", outcomes_views.answer_in_portal, name="measures"),
    path("invites/new/<id:patient_pk>/", views.invite_new, name="invite_new"),
    # The token is the only secret; it is compared by its SHA-256, never stored.
    path("invite/<str:token>/", views.invite_accept, name="invite_accept"),
]
