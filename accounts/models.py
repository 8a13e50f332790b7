from django.contrib.auth.models import AbstractUser
from django.db import models


class Role(models.TextChoices):
    """The portal's roles; each is a Django group of the same name."""

    CLINICIAN = "clinician", "Clinician"
    FRONT_DESK = "front_desk", "Front desk"
    MANAGER = "manager", "Manager"
    PATIENT = "patient", "Patient"


class User(AbstractUser):
    """Staff and patients alike sign in with this model; roles are groups."""

    email = models.EmailField("email address", blank=True)

    class Meta:
        constraints = [
            # Password reset is by email, so one address must not open two accounts.
            models.UniqueConstraint(
                models.functions.Lower("email"),
                name="accounts_user_email_unique_ci",
                condition=~models.Q(email=""),
            ),
        ]

    def has_role(self, role: Role) -> bool:
        # groups are prefetched by the auth backend's permission cache only, so
        # cache the names on the instance for templates that ask several times.
        if not hasattr(self, "_role_names"):
            self._role_names = set(self.groups.values_list("name", flat=True))
        return role.value in self._role_names

    @property
    def is_patient_user(self) -> bool:
        return self.has_role(Role.PATIENT)

    @property
    def is_clinical_staff(self) -> bool:
        return self.has_role(Role.CLINICIAN)
