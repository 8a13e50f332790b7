"""What django-axes knows about an account's failed sign-ins, for the managers' pages."""

from axes.helpers import get_cool_off, get_failure_limit
from axes.models import AccessAttempt
from axes.utils import reset
from django.db.models import IntegerField, OuterRef, QuerySet, Subquery, Sum
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


def is_locked_out(failed_sign_ins: int) -> bool:
    return failed_sign_ins >= failure_limit()


def unlock(username: str) -> int:
    """Forget the failed attempts made under this username; returns how many records went."""
    return reset(username=username)
