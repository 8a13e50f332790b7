from django.apps import AppConfig


class SchedulingConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "scheduling"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from scheduling.views.drawn import forget_drawn

        # A flushed test database starts its diary's change log again, and its counts with it.
        post_migrate.connect(forget_drawn, sender=self, dispatch_uid="scheduling.forget_drawn")
