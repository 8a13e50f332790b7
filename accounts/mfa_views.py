"""The second-factor pages: enrol an app, verify a session, backup codes, and each user's security page.

accounts.middleware.RequireMFAMiddleware sends an unverified user here; enrol and verify are exempt
from it, the rest are not.
"""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST
from django_otp import user_has_device

from accounts import mfa
from accounts.decorators import AuthenticatedHttpRequest
from accounts.mfa_forms import AppCodeForm, CodeOrBackupCodeForm

# Fewer backup codes than this left after one is used: suggest a new set.
FEW_BACKUP_CODES = 3


def _next_url(request: HttpRequest, default: str | None = None) -> str:
    """Where to go afterwards: the `next` the middleware passed on, if it is a page of this site."""
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return resolve_url(default or settings.LOGIN_REDIRECT_URL)


def _with_next(view_name: str, next_url: str) -> str:
    return f"{reverse(view_name)}?{urlencode({'next': next_url})}"


@never_cache
@login_required
def mfa_enrol(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Set up an authenticator app: scan the QR code (or type the key), then type a code to confirm."""
    next_url = _next_url(request)
    if user_has_device(request.user):
        # Only someone with no second factor may add one here: a password alone must never replace a device.
        if request.user.is_verified():
            messages.info(request, "Your second factor is already set up.")
            return redirect("account_security")
        return redirect(_with_next("mfa_verify", next_url))
    device = mfa.start_enrolment(request.user)
    form = AppCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        check = mfa.confirm_enrolment(request, device, form.cleaned_data["code"])
        if check.ok:
            context = {"codes": mfa.issue_backup_codes(request), "next_url": next_url, "first_time": True}
            return render(request, "accounts/mfa_backup_codes.html", context)
        form.add_error("code", check.error)
    context = {
        "form": form,
        "next_url": next_url,
        "qr_code": mfa.qr_code_data_uri(device),
        "secret": mfa.grouped_secret(device),
        "issuer": settings.OTP_TOTP_ISSUER,
    }
    return render(request, "accounts/mfa_enrol.html", context)


@never_cache
@login_required
def mfa_verify(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Type a code from the app, or a backup code, to use this session."""
    next_url = _next_url(request)
    user = request.user
    if user.is_verified() or not user.must_use_second_factor:
        return redirect(next_url)
    if not user_has_device(user):
        return redirect(_with_next("mfa_enrol", next_url))
    form = CodeOrBackupCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        check = mfa.verify(request, form.cleaned_data["code"])
        if check.ok:
            if check.method == mfa.METHOD_BACKUP_CODE:
                left = mfa.backup_codes_left(user)
                few = " Generate a new set on your account security page." if left < FEW_BACKUP_CODES else ""
                messages.warning(request, f"Backup code used: {left} left.{few}")
            return redirect(next_url)
        form.add_error("code", check.error)
    return render(request, "accounts/mfa_verify.html", {"form": form, "next_url": next_url})


@never_cache
@login_required
@require_POST
def mfa_backup_codes(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Issue a new set of backup codes (the old set stops working) and show it, once."""
    if not request.user.is_verified():
        # Staff never get here unverified (the middleware sees to it); a patient without a second factor might.
        messages.error(request, "Turn on the second factor first: backup codes stand in for your authenticator app.")
        return redirect("account_security")
    next_url = _next_url(request, "account_security")
    context = {"codes": mfa.issue_backup_codes(request), "next_url": next_url, "first_time": False}
    return render(request, "accounts/mfa_backup_codes.html", context)


@login_required
def account_security(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Every signed-in user's own page: their second factor, backup codes, and for a patient, on or off."""
    return _security_page(request, CodeOrBackupCodeForm())


def _security_page(request: AuthenticatedHttpRequest, turn_off_form: CodeOrBackupCodeForm) -> HttpResponse:
    user = request.user
    context = {
        "status": mfa.status(user),
        "is_patient": user.is_patient_user,
        "turn_off_form": turn_off_form,
        "backup_code_count": settings.OTP_BACKUP_CODE_COUNT,
    }
    return render(request, "accounts/account_security.html", context)


@login_required
@require_POST
def mfa_turn_off(request: AuthenticatedHttpRequest) -> HttpResponse:
    """A patient turns their optional second factor off; it takes a current code. Staff cannot."""
    if not request.user.is_patient_user:
        raise PermissionDenied
    if not user_has_device(request.user):
        messages.info(request, "Your second factor is already off.")
        return redirect("account_security")
    form = CodeOrBackupCodeForm(request.POST)
    if form.is_valid():
        check = mfa.turn_off(request, form.cleaned_data["code"])
        if check.ok:
            messages.success(request, "Second factor turned off. Signing in now needs only your password.")
            return redirect("account_security")
        form.add_error("code", check.error)
    return _security_page(request, form)
