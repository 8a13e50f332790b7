from functools import partial

from django.contrib.auth.forms import PasswordResetForm
from django.db import transaction

from accounts.tasks import send_password_reset_email


class BackgroundPasswordResetForm(PasswordResetForm):
    """Sends the reset email from the worker, so a slow mail server never holds up the page."""

    def save(self, **kwargs) -> None:
        for user in self.get_users(self.cleaned_data["email"]):
            transaction.on_commit(partial(send_password_reset_email.delay, user.pk))
