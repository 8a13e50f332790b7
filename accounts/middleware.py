"""Session rules every request passes through, after authentication."""

from urllib.parse import urlencode, urlsplit

from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.deprecation import MiddlewareMixin
from django.utils.http import url_has_allowed_host_and_scheme

from accounts import session_policy
from accounts.decorators import AuthenticatedHttpRequest, is_signed_in
from audit.models import Action
from audit.services import record

# Pages an unverified user may still open: signing in and out, and the second-factor pages themselves.
MFA_EXEMPT_VIEWS = frozenset({"login", "logout", "mfa_enrol", "mfa_verify", "session_keepalive"})


class RequireMFAMiddleware(MiddlewareMixin):
    """A signed-in user who must use a second factor and has not passed it in this session is sent
    to enrol (no device yet) or to verify, before any page with patient data or the admin runs.

    Runs after django-otp's OTPMiddleware, which gives request.user.is_verified().
    """

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs):
        user = request.user
        if not user.is_authenticated or user.is_verified():
            return None
        if view_name(request) in MFA_EXEMPT_VIEWS or not user.must_use_second_factor:
            return None
        target = reverse("mfa_verify" if user.has_confirmed_device() else "mfa_enrol")
        return HttpResponseRedirect(f"{target}?{urlencode({'next': request.get_full_path()})}")


# Every response to a signed-in request tells the page how long its session may stay idle, so the
# warning in static/js/session-timeout.js counts down to the moment the server will end it.
IDLE_SECONDS_HEADER = "X-Session-Idle-Seconds"

SIGNED_OUT_MESSAGES = {
    session_policy.REVOKED: "You were signed out everywhere. Please sign in again.",
    session_policy.ABSOLUTE: "You have been signed in for a long time, so you were signed out. Please sign in again.",
    session_policy.IDLE: "You were signed out after a period without activity, for your privacy. Please sign in again.",
}


class SessionPolicyMiddleware(MiddlewareMixin):
    """Idle and absolute time-outs, and "sign out everywhere" (see the SESSION_* settings and
    accounts.session_policy).

    The check runs in process_view, after MessageMiddleware has set up messages and before the
    view and RequireMFAMiddleware (listed after this one) run.
    """

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        idle_seconds = getattr(request, "session_idle_seconds", None)
        if idle_seconds is not None:
            response[IDLE_SECONDS_HEADER] = str(idle_seconds)
        return response

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs):
        # Signing out is let through: it ends the session anyway, and sending its POST on to the
        # sign-in page as "next" would lead nowhere.
        if not is_signed_in(request) or view_name(request) == "logout":
            return None
        now = session_policy.now_seconds()
        reason = session_policy.end_reason(request.session, request.user, now)
        if reason is not None:
            return end_session(request, reason)
        session_policy.touch(request.session, now)
        request.session_idle_seconds = session_policy.idle_seconds_left(request.session, now)
        return None


def end_session(request: AuthenticatedHttpRequest, reason: str) -> HttpResponse:
    """Sign the user out, say why, and send them to the sign-in page."""
    record(Action.SESSION_EXPIRED, request=request, detail={"reason": reason})
    # The sign-out signal handler records an ordinary LOGOUT unless it sees this.
    request.session_end_reason = reason
    target = sign_in_target(request)
    logout(request)
    messages.info(request, SIGNED_OUT_MESSAGES[reason])
    if is_htmx(request):
        # htmx would swap the sign-in page into the fragment it asked for; this makes it load the page.
        response = HttpResponse(status=204)
        response["HX-Redirect"] = target
        return response
    return HttpResponseRedirect(target)


def view_name(request: HttpRequest) -> str:
    """The resolved view's name (middleware's process_view runs after the URL is resolved)."""
    match = request.resolver_match
    return match.view_name if match else ""


def is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def sign_in_target(request: HttpRequest) -> str:
    """The sign-in page, returning afterwards to the page the user was on when it can be shown again."""
    login_url = reverse("login")
    if view_name(request) == "login":
        return request.get_full_path()
    if is_htmx(request):
        current = urlsplit(request.headers.get("HX-Current-URL", ""))
        wanted = current.path + (f"?{current.query}" if current.query else "")
        allowed = url_has_allowed_host_and_scheme(request.headers.get("HX-Current-URL", ""), request.get_host())
        return f"{login_url}?{urlencode({'next': wanted})}" if current.path and allowed else login_url
    if request.method == "GET":
        return f"{login_url}?{urlencode({'next': request.get_full_path()})}"
    # The form's contents are gone with the session; a POST-only address cannot be opened again.
    return login_url
