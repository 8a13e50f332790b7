from django.urls import path

from outcomes import report_views, views

app_name = "outcomes"

urlpatterns = [
    # The signed token names one request; the request's row says whether it still works.
    path("measures/<str:token>/", views.answer_by_link, name="answer_by_link"),
    path("outcomes/report/", report_views.report, name="report"),
    path("outcomes/report/export/", report_views.report_export, name="report_export"),
]
