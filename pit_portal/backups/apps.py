from django.apps import AppConfig


class BackupsConfig(AppConfig):
    """No models: installed so that Django finds the `backup` and `restore` commands."""

    name = "pit_portal.backups"
    label = "backups"
    verbose_name = "Backups"
