"""Lockout by account and by address (django-axes), and what the managers' pages show and lift of it.

An account is paused after AXES_FAILURE_LIMIT failed sign-ins under its username, from any address. An address
is paused only after LOGIN_ADDRESS_FAILURE_LIMIT failures across usernames: a clinic signs in from one shared
address, so one person's typing must lock their own account only, while guessing many accounts from one address
is still stopped."""

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_cool_off, get_failure_limit
from axes.models import AccessAttempt
from axes.signals import user_locked_out
from django.conf import settings
from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone


def failure_limit() -> int:
    return get_failure_limit(None, None)


def recent_attempts() -> QuerySet[AccessAttempt]:
    """Failed-attempt records that still count: axes ignores (and later deletes) older ones."""
    attempts = AccessAttempt.objects.all()
    cool_off = get_cool_off()
    if cool_off:
        attempts = attempts.filter(attempt_time__gte=timezone.now() - cool_off)
    return attempts


def with_failed_sign_ins(users: QuerySet) -> QuerySet:
    """Annotate each user with `failed_sign_ins`: the failures axes counts against their username
    (one subquery, whatever the number of users)."""
    per_username = (
        recent_attempts()
        .filter(username=OuterRef("username"))
        .order_by()
        .values("username")
        .annotate(total=Sum("failures_since_start"))
        .values("total")
    )
    return users.annotate(failed_sign_ins=Coalesce(Subquery(per_username, output_field=IntegerField()), 0))


def address_failures(address: str | None) -> int:
    if not address:
        return 0
    total = recent_attempts().filter(ip_address=address).aggregate(total=Sum("failures_since_start"))["total"]
    return total or 0


def locked_addresses() -> list[dict]:
    """The addresses paused now, each with its failures and the number of usernames tried, most failures first."""
    return list(
        recent_attempts()
        .exclude(ip_address=None)
        .values("ip_address")
        .annotate(failures=Sum("failures_since_start"), usernames=Count("username", distinct=True))
        .filter(failures__gte=settings.LOGIN_ADDRESS_FAILURE_LIMIT)
        .order_by("-failures", "ip_address")
    )


class AccountAndAddressLockout(AxesDatabaseHandler):
    """axes' database handler (AXES_LOCKOUT_PARAMETERS = ["username"]) plus the address's own, higher limit."""

    def is_locked(self, request, credentials: dict | None = None) -> bool:
        if super().is_locked(request, credentials):
            return True
        return address_failures(getattr(request, "axes_ip_address", None)) >= settings.LOGIN_ADDRESS_FAILURE_LIMIT

    def user_login_failed(self, sender, credentials: dict, request=None, **kwargs) -> None:
        super().user_login_failed(sender, credentials, request, **kwargs)
        if request is None or getattr(request, "axes_locked_out", False):
            return
        address = getattr(request, "axes_ip_address", None)
        if address_failures(address) >= settings.LOGIN_ADDRESS_FAILURE_LIMIT:
            # As axes does for an account: the attempt that reaches the limit is answered as locked out.
            request.axes_locked_out = True
            request.axes_credentials = credentials
            user_locked_out.send("axes", request=request, username=credentials.get("username"), ip_address=address)
