from scheduling.views import calendar, followups

app_name = "scheduling"

# Each view module keeps its own routes beside its views.
urlpatterns = [*calendar.urlpatterns, *followups.urlpatterns]
