import operator
from collections.abc import Callable
from functools import cached_property, reduce
from typing import NamedTuple

from django.contrib.auth.models import AbstractUser, Group, Permission
from django.contrib.postgres.expressions import ArraySubquery
from django.db import models
from django.db.models import CharField, Exists, OuterRef, Value
from django.db.models.functions import Concat

# How Django names a permission: "app_label.codename".
PERMISSION_LABEL = Concat("content_type__app_label", Value("."), "codename", output_field=CharField())


class Access(NamedTuple):
    roles: frozenset[str]
    own_permissions: frozenset[str]


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
    # Given to each request's user by django_otp's OTPMiddleware: has this session passed the second factor?
    is_verified: Callable[[], bool]

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

    @cached_property
    def access(self) -> "Access":
        """The user's role names and the permissions granted to them one by one, in one query, kept for as long as
        this object lives (a request): accounts.backends.RoleBackend answers permission checks from it."""
        if self.pk is None:
            return Access(frozenset(), frozenset())
        own = Permission.objects.filter(user=OuterRef("pk")).annotate(label=PERMISSION_LABEL).values("label")
        roles, own_permissions = (
            User.objects.filter(pk=self.pk)
            .values_list(ArraySubquery(Group.objects.filter(user=OuterRef("pk")).values("name")), ArraySubquery(own))
            .get()
        )
        return Access(frozenset(roles), frozenset(own_permissions))

    def has_role(self, role: Role) -> bool:
        return role.value in self.access.roles

    @property
    def is_patient_user(self) -> bool:
        return self.has_role(Role.PATIENT)

    @property
    def role_labels(self) -> list[str]:
        """The names of the user's roles, for the managers' pages: from the groups (prefetched there), leaving out
        a group that is not a role."""
        return [Role(group.name).label for group in self.groups.all() if group.name in Role.values]

    @property
    def must_use_second_factor(self) -> bool:
        """Everyone but a patient must use a second factor; a patient who has enrolled one must too."""
        return not self.is_patient_user or self.has_confirmed_device()

    def has_confirmed_device(self) -> bool:
        """django_otp.user_has_device in one query: it asks each device table in turn (authenticator app,
        backup codes), and a patient's every page asks."""
        from django_otp import device_classes

        confirmed = (Exists(model.objects.filter(user=OuterRef("pk"), confirmed=True)) for model in device_classes())
        return User.objects.filter(pk=self.pk).filter(reduce(operator.or_, confirmed)).exists()
