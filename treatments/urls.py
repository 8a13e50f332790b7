from django.urls import path

from treatments import lot_views, views

app_name = "treatments"

urlpatterns = [
    path("treatments/lots/", lot_views.lot_recall, name="lot_recall"),
    path("treatments/lots/recall.csv", lot_views.lot_recall_csv, name="lot_recall_csv"),
    path("patients/<id:patient_pk>/courses/new/", views.course_new, name="course_new"),
    path("courses/<id:pk>/", views.course_detail, name="course"),
    path("courses/<id:pk>/close/", views.course_close, name="course_close"),
    path("courses/<id:pk>/reopen/", views.course_reopen, name="course_reopen"),
    path("courses/<id:course_pk>/sessions/new/", views.session_new, name="session_new"),
    path("sessions/<id:pk>/", views.session_detail, name="session"),
    path("sessions/<id:pk>/edit/", views.session_edit, name="session_edit"),
    path("sessions/<id:pk>/sign/", views.session_sign, name="session_sign"),
    path("sessions/<id:pk>/addenda/", views.session_addendum, name="session_addendum"),
    path("sessions/site-row/", views.site_row, name="site_row"),
]
