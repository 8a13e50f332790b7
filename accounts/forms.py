import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.forms import PasswordResetForm
from django.utils import timezone
from django.utils.crypto import salted_hmac

from audit.models import Action, AuditEvent
from audit.services import record
from pit_portal.outbox.models import EmailKind
from pit_portal.outbox.services import email_owe


def reset_request_key(email: str) -> str:
    """What the audit trail keeps of an address asked for: a keyed digest, never the address itself."""
    return salted_hmac("accounts.password-reset", email.strip().lower()).hexdigest()


def reset_emails_sent_lately(key: str) -> int:
    since = timezone.now() - timedelta(hours=1)
    return AuditEvent.objects.filter(
        action=Action.PASSWORD_RESET_REQUESTED, occurred_at__gte=since, detail__email=key, detail__sent=True
    ).count()


class BackgroundPasswordResetForm(PasswordResetForm):
    """Sends the reset email from the worker, so a slow mail server never holds up the page, and at most
    PASSWORD_RESET_EMAILS_PER_HOUR to one address: the page answers the same either way, so it tells nobody
    whether the address has an account or was asked for already."""

    def save(self, *args: Any, **kwargs: Any) -> None:
        email = self.cleaned_data["email"]
        key = reset_request_key(email)
        send = reset_emails_sent_lately(key) < settings.PASSWORD_RESET_EMAILS_PER_HOUR
        record(Action.PASSWORD_RESET_REQUESTED, request=kwargs.get("request"), detail={"email": key, "sent": send})
        if not send:
            return
        for user in self.get_users(email):
            # Each request owes its own email (a new link); the hourly limit above bounds how many.
            email_owe(kind=EmailKind.PASSWORD_RESET, object_id=user.pk, key=uuid.uuid4().hex)
