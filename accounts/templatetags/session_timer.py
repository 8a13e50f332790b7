"""The data the idle warning (static/js/session-timeout.js) reads from <body>."""

from django import template
from django.conf import settings
from django.urls import reverse
from django.utils.html import format_html

from accounts import session_policy

register = template.Library()


@register.simple_tag(takes_context=True)
def session_timer_attributes(context) -> str:
    """data-* attributes for a signed-in page: this user's idle limit, the warning lead time, and where to
    keep the session alive or sign in again. Nothing for anonymous pages.

    The page carries the limit, not the seconds left: the body stays the same from one request to the
    next (tests compare refusal pages byte for byte). The seconds left come in the X-Session-Idle-Seconds
    header of htmx and keep-alive responses.
    """
    # An error page may be drawn before the authentication middleware has run: no user means no timer.
    user = getattr(context.get("request"), "user", None)
    if user is None or not user.is_authenticated:
        return ""
    request = context["request"]
    return format_html(
        'data-session-idle-limit="{}" data-session-warning-seconds="{}" '
        'data-session-keepalive-url="{}" data-session-login-url="{}"',
        session_policy.idle_limit(request.session),
        settings.SESSION_IDLE_WARNING,
        reverse("session_keepalive"),
        reverse("login"),
    )
