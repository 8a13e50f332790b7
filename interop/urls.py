app_name = "interop"

urlpatterns: list = []
