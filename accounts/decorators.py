from collections.abc import Callable
from functools import wraps
from typing import TypeGuard

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from accounts.models import User


class AuthenticatedHttpRequest(HttpRequest):
    """The request a view behind login_required or permission_required receives (an annotation only)."""

    user: User
    # Set by accounts.middleware.SessionPolicyMiddleware on every signed-in request.
    session_idle_seconds: int
    # Set by accounts.middleware.end_session before it signs the user out; accounts.signals reads it.
    session_end_reason: str


def is_signed_in(request: HttpRequest) -> TypeGuard[AuthenticatedHttpRequest]:
    return request.user.is_authenticated


def permission_required(*perms: str) -> Callable:
    """Anonymous users go to the login page; signed-in users without the permission get 403."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        @login_required
        def guarded(request, *args, **kwargs):
            if not request.user.has_perms(perms):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return guarded

    return decorator
