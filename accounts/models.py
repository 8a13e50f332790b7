import operator
from functools import cache, reduce

from django.contrib.auth.models import AbstractUser, Group, Permission
from django.db import models
from django.db.models import CharField, Exists, F, OuterRef, QuerySet, Value
from django.db.models.functions import Concat

from pit_portal.prepared import PreparedQuery

# The kinds of row _roles_and_permissions_of returns.
ROLE_ROWS = "role"
GROUP_PERMISSION_ROWS = "group"
USER_PERMISSION_ROWS = "user"


class Role(models.TextChoices):
    """The portal's roles; each is a Django group of the same name."""

    CLINICIAN = "clinician", "Clinician"
    FRONT_DESK = "front_desk", "Front desk"
    MANAGER = "manager", "Manager"
    PATIENT = "patient", "Patient"


class User(AbstractUser):
    """Staff and patients alike sign in with this model; roles are groups."""

    email = models.EmailField("email address", blank=True)
    # Bumped by "sign out everywhere": a session started under an older value is ended at its next request.
    session_generation = models.PositiveIntegerField(default=0, editable=False)

    class Meta:
        permissions = [
            ("manage_account_security", "Can unlock accounts, reset second factors and sign users out everywhere"),
        ]
        constraints = [
            # Password reset is by email, so one address must not open two accounts.
            models.UniqueConstraint(
                models.functions.Lower("email"),
                name="accounts_user_email_unique_ci",
                condition=~models.Q(email=""),
            ),
        ]

    @staticmethod
    def shown_name(first_name: str, last_name: str, username: str) -> str:
        """What pages show for a user: get_full_name(), or the username without one; from the three columns
        alone, for lists read as plain rows."""
        return f"{first_name} {last_name}".strip() or username

    def has_role(self, role: Role) -> bool:
        self._load_roles_and_permissions()
        return role.value in self._role_names

    def has_perm(self, perm: str, obj=None) -> bool:
        self._load_roles_and_permissions()
        return super().has_perm(perm, obj)

    def has_module_perms(self, app_label: str) -> bool:
        self._load_roles_and_permissions()
        return super().has_module_perms(app_label)

    def get_all_permissions(self, obj=None) -> set[str]:
        self._load_roles_and_permissions()
        return super().get_all_permissions(obj)

    def _load_roles_and_permissions(self) -> None:
        """The user's roles and permissions in one query, kept on the instance (so for one request).

        Django's ModelBackend reads a user's own and their groups' permissions in two queries, and the roles
        took a third; every page asks for permissions, so this is one query less on each. The results go
        into the same per-instance caches ModelBackend fills and reads (_user_perm_cache, _group_perm_cache,
        _perm_cache), so it answers exactly as before. Superusers and inactive users keep ModelBackend's
        own path (all permissions, or none).
        """
        if hasattr(self, "_role_names"):
            return
        if self.pk is None or self.is_superuser or not self.is_active or hasattr(self, "_perm_cache"):
            self._role_names = set(self.groups.values_list("name", flat=True))
            return
        found: dict[str, set[str]] = {ROLE_ROWS: set(), GROUP_PERMISSION_ROWS: set(), USER_PERMISSION_ROWS: set()}
        for kind, name in ROLES_AND_PERMISSIONS.rows(self.pk):
            found[kind].add(name)
        self._role_names = found[ROLE_ROWS]
        self._group_perm_cache = found[GROUP_PERMISSION_ROWS]
        self._user_perm_cache = found[USER_PERMISSION_ROWS]
        self._perm_cache = self._group_perm_cache | self._user_perm_cache

    @property
    def is_patient_user(self) -> bool:
        return self.has_role(Role.PATIENT)

    @property
    def is_clinical_staff(self) -> bool:
        return self.has_role(Role.CLINICIAN)

    @property
    def must_use_second_factor(self) -> bool:
        """Everyone but a patient must use a second factor; a patient who has enrolled one must too."""
        return not self.is_patient_user or self.has_confirmed_device()

    def has_confirmed_device(self) -> bool:
        """django_otp.user_has_device in one query: it asks each device table in turn (authenticator app,
        backup codes), and a patient's every page asks."""
        return bool(CONFIRMED_DEVICE.rows(self.pk))


def _with_confirmed_device(user_id: int) -> QuerySet:
    confirmed = (Exists(model.objects.filter(user=OuterRef("pk"), confirmed=True)) for model in _device_models())
    return User.objects.filter(pk=user_id).filter(reduce(operator.or_, confirmed)).values_list("pk")[:1]


def _roles_and_permissions_of(user: int) -> QuerySet:
    """(kind, name) rows: the user's group names, their groups' permissions and their own permissions
    ("app_label.codename", as ModelBackend names them), as one UNION ALL. `user` is the user's id."""

    def tagged(queryset: QuerySet, kind: str, name) -> QuerySet:
        labelled = queryset.annotate(row_kind=Value(kind, output_field=CharField()), row_name=name)
        return labelled.order_by().values_list("row_kind", "row_name")

    permission_name = Concat("content_type__app_label", Value("."), "codename", output_field=CharField())
    roles = tagged(Group.objects.filter(user=user), ROLE_ROWS, F("name"))
    from_groups = tagged(Permission.objects.filter(group__user=user), GROUP_PERMISSION_ROWS, permission_name)
    own = tagged(Permission.objects.filter(user=user), USER_PERMISSION_ROWS, permission_name)
    return roles.union(from_groups, own, all=True)


@cache
def _device_models() -> tuple:
    """django_otp's device models: found by walking every installed model, so once per process."""
    from django_otp import device_classes

    return tuple(device_classes())


# Every page runs these: compiled once per process (pit_portal.prepared).
ROLES_AND_PERMISSIONS = PreparedQuery(_roles_and_permissions_of)
CONFIRMED_DEVICE = PreparedQuery(_with_confirmed_device)
