from django.urls import path

from assessments import views

app_name = "assessments"

urlpatterns = [
    path("patients/<id:patient_pk>/assessments/new/", views.assessment_new, name="new"),
    path("assessments/<id:pk>/", views.assessment_detail, name="detail"),
]
