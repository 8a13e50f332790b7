from functools import wraps

from django.contrib.admin import AdminSite
from django.core.exceptions import PermissionDenied


class PortalAdminSite(AdminSite):
    """The admin answers a signed-in user who may not use it with 403, like every other page,
    instead of sending them to a second login form."""

    site_header = "PIT Portal administration"
    site_title = "PIT Portal"

    def has_permission(self, request) -> bool:
        """Staff who have also passed the second factor in this session, as django_otp's OTPAdminSite asks.
        RequireMFAMiddleware already sends an unverified user to verify; this holds if it is ever bypassed."""
        return super().has_permission(request) and request.user.is_verified()

    def admin_view(self, view, cacheable=False):
        protected = super().admin_view(view, cacheable)

        @wraps(protected)
        def refuse_signed_in_outsiders(request, *args, **kwargs):
            if request.user.is_authenticated and not self.has_permission(request):
                raise PermissionDenied
            return protected(request, *args, **kwargs)

        return refuse_signed_in_outsiders
