"""The site's main menu (templates/_main_nav.html), drawn once for each set of links and kept.

Drawing it on every page took about half of the site's frame: ten permission checks and a dozen reversed URLs,
the same for everyone in a role. The links shown depend only on what the user may do, so the drawn menu is kept
by that (with the clinic's name and the URL prefix); the user's name and the page's CSRF token go into marks in
it."""

from functools import lru_cache

from django import template
from django.conf import settings
from django.middleware.csrf import get_token
from django.template.loader import render_to_string
from django.urls import get_script_prefix
from django.utils.safestring import SafeString

from pit_portal.fragments import fill_marks, mark

register = template.Library()

# Each link of the menu, by the permissions that show it (all of them).
MENU_LINKS: dict[str, tuple[str, ...]] = {
    "portal": ("portal.use_portal",),
    "patients": ("patients.view_patient",),
    "register": ("patients.add_patient",),
    "calendar": ("scheduling.view_appointment",),
    "recall": ("scheduling.view_appointment", "treatments.view_treatmentcourse"),
    "user_accounts": ("accounts.manage_account_security",),
    "audit_trail": ("audit.view_auditevent",),
}


def links_shown(user) -> frozenset[str]:
    """The menu's links `user` may follow."""
    shown = {link for link, permissions in MENU_LINKS.items() if user.has_perms(permissions)}
    if user.is_staff:
        shown.add("administration")
    return frozenset(shown)


@lru_cache(maxsize=64)
def _drawn_menu(clinic_name: str, script_prefix: str, signed_in: bool, shown: frozenset[str]) -> SafeString:
    """The menu; `script_prefix` is what its reversed links begin with, part of what it is kept by."""
    context = {
        "clinic_name": clinic_name,
        "signed_in": signed_in,
        "shows": dict.fromkeys(shown, True),
        "user_name": mark("user_name"),
        "csrf_token": mark("csrf_token"),
    }
    return render_to_string("_main_nav.html", context)


@register.simple_tag(takes_context=True)
def main_nav(context) -> SafeString:
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return _drawn_menu(settings.CLINIC_NAME, get_script_prefix(), False, frozenset())
    menu = _drawn_menu(settings.CLINIC_NAME, get_script_prefix(), True, links_shown(user))
    return fill_marks(menu, {"user_name": user.get_full_name() or user.username, "csrf_token": get_token(request)})
