from django.apps import AppConfig


class OutboxConfig(AppConfig):
    """The emails the portal owes, one row each (see models.OutboxEmail)."""

    name = "pit_portal.outbox"
    label = "outbox"
    verbose_name = "Emails owed"
