from django.urls import path

from treatments import views

app_name = "treatments"

urlpatterns = [
    path("patients/<int:patient_pk>/courses/new/", views.course_new, name="course_new"),
    path("courses/<int:pk>/", views.course_detail, name="course"),
    path("courses/<int:pk>/close/", views.course_close, name="course_close"),
    path("courses/<int:course_pk>/sessions/new/", views.session_new, name="session_new"),
    path("sessions/<int:pk>/", views.session_detail, name="session"),
    path("sessions/<int:pk>/edit/", views.session_edit, name="session_edit"),
    path("sessions/<int:pk>/sign/", views.session_sign, name="session_sign"),
    path("sessions/<int:pk>/addenda/", views.session_addendum, name="session_addendum"),
    path("sessions/site-row/", views.site_row, name="site_row"),
]
