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

    @property
    def must_use_second_factor(self) -> bool:
        """Everyone but a patient must use a second factor; a patient who has enrolled one must too."""
        from django_otp import user_has_device

        return not self.is_patient_user or user_has_device(self)
