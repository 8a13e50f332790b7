"""Session rules every request passes through, after authentication."""

from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

# Pages an unverified user may still open: signing in and out, and the second-factor pages themselves.
MFA_EXEMPT_VIEWS = frozenset({"login", "logout", "mfa_enrol", "mfa_verify", "session_keepalive"})


class RequireMFAMiddleware:
    """A signed-in user who must use a second factor and has not passed it in this session is sent
    to enrol (no device yet) or to verify, before any page with patient data or the admin runs.

    Runs after django-otp's OTPMiddleware, which gives request.user.is_verified().
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs):
        user = request.user
        if not user.is_authenticated or user.is_verified():
            return None
        if request.resolver_match.view_name in MFA_EXEMPT_VIEWS or not user.must_use_second_factor:
            return None
        from django_otp import user_has_device

        target = reverse("mfa_verify" if user_has_device(user) else "mfa_enrol")
        return HttpResponseRedirect(f"{target}?{urlencode({'next': request.get_full_path()})}")


class SessionPolicyMiddleware:
    """Idle and absolute time-outs, and "sign out everywhere" (see the SESSION_* settings)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)
