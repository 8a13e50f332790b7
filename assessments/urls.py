from django.urls import path

from assessments import views

app_name = "assessments"

urlpatterns = [
    path("patients/<int:patient_pk>/assessments/new/", views.assessment_new, name="new"),
    path("assessments/<int:pk>/", views.assessment_detail, name="detail"),
]
