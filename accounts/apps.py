from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AccountsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "accounts"

    def ready(self) -> None:
        from accounts import signals
        from accounts.roles import sync_roles

        signals.connect()
        # After every migrate, once all apps' permissions exist.
        post_migrate.connect(sync_roles, sender=self, dispatch_uid="accounts.sync_roles")
