from django.urls import path

from outcomes import views

app_name = "outcomes"

urlpatterns = [
    # The signed token names one request; the request's row says whether it still works.
    path("measures/<str:token>/", views.answer_by_link, name="answer_by_link"),
]
