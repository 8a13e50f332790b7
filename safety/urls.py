from django.urls import path

from safety import views

app_name = "safety"

urlpatterns = [
    path("", views.event_log, name="log"),
    path("log.csv", views.event_log_csv, name="log_csv"),
    path("events/<id:pk>/follow-up/", views.event_follow_up, name="event_follow_up"),
    path("reactions/<id:pk>/follow-up/", views.reaction_follow_up, name="reaction_follow_up"),
    # The patient's own page (portal): a reaction after one of their visits.
    path("reactions/report/", views.report_reaction, name="report_reaction"),
]
