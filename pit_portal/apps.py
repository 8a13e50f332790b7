from django import forms
from django.contrib.admin.apps import AdminConfig
from django.urls import register_converter

from pit_portal.ids import IdConverter
from pit_portal.middleware import no_control_characters


class PortalAdminConfig(AdminConfig):
    """The project's own admin site, and what every app's forms and URLconfs rely on being in place first."""

    default_site = "pit_portal.admin.PortalAdminSite"

    def ready(self) -> None:
        # Both before the admin's autodiscovery imports the apps' admin modules, forms and URLconfs.
        # Every text field of every form, the admin's and Django's own included, refuses control characters
        # with a form error; Field.default_validators is the documented place for a field class's validators.
        forms.CharField.default_validators = [*forms.CharField.default_validators, no_control_characters]
        # Some apps keep their URL patterns beside their views: <id:pk> must be known before those import.
        register_converter(IdConverter, "id")
        super().ready()
