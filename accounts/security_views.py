"""Account security for managers (unlock, sign out everywhere, reset the second factor), and the
keep-alive the idle warning calls."""

from axes.utils import reset
from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import lockout, mfa, session_policy
from accounts.decorators import AuthenticatedHttpRequest, permission_required
from accounts.models import User
from audit.models import Action, AuditEvent
from audit.services import record

MANAGE = "accounts.manage_account_security"
USERS_PER_PAGE = 25
RECENT_EVENTS = 10
# What the detail page lists of a user's history: their sign-ins and what was done to their account.
SECURITY_ACTIONS = (
    Action.LOGIN,
    Action.LOGOUT,
    Action.LOGIN_FAILED,
    Action.LOCKED_OUT,
    Action.UNLOCKED,
    Action.SESSION_EXPIRED,
    Action.SESSIONS_REVOKED,
    Action.MFA_ENROLLED,
    Action.MFA_RESET,
    Action.ROLE_CHANGED,
)


@require_POST
@login_required
def session_keepalive(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The idle warning's "Stay signed in": counts as activity (an expired session never gets here)."""
    now = session_policy.now_seconds()
    session_policy.touch(request.session, now, force=True)
    request.session_idle_seconds = session_policy.idle_seconds_left(request.session, now)
    return HttpResponse(status=204)


class UserSearchForm(forms.Form):
    q = forms.CharField(label="Search by username or name", max_length=100, required=False)


class AddressForm(forms.Form):
    address = forms.GenericIPAddressField(label="Address")


def users_for_security() -> QuerySet[User]:
    """Users with what the list shows: roles (one prefetch), failed sign-ins and second factor (subqueries)."""
    second_factor = TOTPDevice.objects.filter(user=OuterRef("pk"), confirmed=True)
    users = User.objects.annotate(has_second_factor=Exists(second_factor)).prefetch_related("groups")
    return lockout.with_failed_sign_ins(users).order_by("username")


@require_GET
@permission_required(MANAGE)
def security_users(request: HttpRequest) -> HttpResponse:
    form = UserSearchForm(request.GET)
    query = form.cleaned_data["q"] if form.is_valid() else ""
    users = users_for_security()
    for term in query.split():
        users = users.filter(Q(username__icontains=term) | Q(first_name__icontains=term) | Q(last_name__icontains=term))
    page = Paginator(users, USERS_PER_PAGE).get_page(request.GET.get("page"))
    context = {
        "form": form,
        "query": query,
        "page": page,
        "failure_limit": lockout.failure_limit(),
        "locked_addresses": lockout.locked_addresses(),
    }
    return render(request, "accounts/security_users.html", context)


@require_GET
@permission_required(MANAGE)
def security_user(request: HttpRequest, pk: int) -> HttpResponse:
    user = get_object_or_404(users_for_security(), pk=pk)
    events = AuditEvent.objects.filter(action__in=SECURITY_ACTIONS).filter(
        Q(actor=user)
        | Q(actor__isnull=True, actor_username=user.username)
        | Q(object_type=User._meta.label_lower, object_id=str(user.pk))
    )[:RECENT_EVENTS]
    context = {
        "account": user,
        "failure_limit": lockout.failure_limit(),
        "second_factor": mfa.status(user),
        "events": events,
    }
    return render(request, "accounts/security_user.html", context)


@require_POST
@permission_required(MANAGE)
def security_unlock(request: HttpRequest, pk: int) -> HttpResponse:
    user = get_object_or_404(User, pk=pk)
    cleared = reset(username=user.username)
    record(Action.UNLOCKED, request=request, obj=user, detail={"user_id": user.pk, "attempts_cleared": cleared})
    messages.success(request, f"{user.username} can sign in again.")
    return redirect("security_user", pk=user.pk)


@require_POST
@permission_required(MANAGE)
def security_unlock_address(request: HttpRequest) -> HttpResponse:
    """Lift the pause on one address: every username's failed attempts from it are forgotten."""
    form = AddressForm(request.POST)
    if not form.is_valid():
        messages.error(request, "That is not an address. Choose one from the list of paused addresses.")
        return redirect("security_users")
    address = form.cleaned_data["address"]
    cleared = reset(ip=address)
    record(Action.UNLOCKED, request=request, detail={"address": address, "attempts_cleared": cleared})
    messages.success(request, f"Sign-ins from {address} are no longer paused.")
    return redirect("security_users")


@require_POST
@permission_required(MANAGE)
def security_revoke_sessions(request: HttpRequest, pk: int) -> HttpResponse:
    user = get_object_or_404(User, pk=pk)
    # Every session remembers the generation it started under; the middleware ends the older ones
    # at their next request. F() so that two managers clicking at once both count.
    User.objects.filter(pk=user.pk).update(session_generation=F("session_generation") + 1)
    record(Action.SESSIONS_REVOKED, request=request, obj=user, detail={"user_id": user.pk})
    if user.pk == request.user.pk:
        messages.success(request, "You are signed out everywhere, this browser included, from your next page on.")
    else:
        messages.success(request, f"{user.username} is signed out everywhere, from their next page on.")
    return redirect("security_user", pk=user.pk)


@require_POST
@permission_required(MANAGE)
def security_reset_mfa(request: HttpRequest, pk: int) -> HttpResponse:
    user = get_object_or_404(User, pk=pk)
    removed = mfa.reset_devices(user, request=request)
    if removed:
        messages.success(
            request,
            f"Second factor removed for {user.username}. Staff are asked to set up a new one at their next page.",
        )
    else:
        messages.info(request, f"{user.username} had no second factor to remove.")
    return redirect("security_user", pk=user.pk)
