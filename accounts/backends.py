"""Sign-in and permissions: ModelBackend's password check, with permissions read from accounts/roles.py.

A user's permissions are those roles.py lists for each role they hold (the groups only name the roles), plus any
granted to them one by one. Both are read in one query, when a request first asks, and kept on the user object for
that request (User.access)."""

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Permission

from accounts.roles import permissions_of_roles


class RoleBackend(ModelBackend):
    def get_user_permissions(self, user_obj, obj=None) -> set[str]:
        if not self._answers_for(user_obj, obj):
            return set()
        return set(user_obj.access.own_permissions)

    def get_group_permissions(self, user_obj, obj=None) -> set[str]:
        if not self._answers_for(user_obj, obj):
            return set()
        return set(permissions_of_roles(user_obj.access.roles))

    def get_all_permissions(self, user_obj, obj=None) -> set[str]:
        if not self._answers_for(user_obj, obj):
            return set()
        if user_obj.is_superuser:
            return {f"{app}.{codename}" for app, codename in _every_permission()}
        return self.get_group_permissions(user_obj) | self.get_user_permissions(user_obj)

    @staticmethod
    def _answers_for(user_obj, obj) -> bool:
        """Permissions on the model as a whole, for an active signed-in user; none on single objects."""
        return user_obj.is_active and not user_obj.is_anonymous and obj is None


def _every_permission():
    return Permission.objects.values_list("content_type__app_label", "codename")
