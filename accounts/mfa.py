"""The second factor: enrolling an authenticator app (TOTP), backup codes, checking a code, resetting.

Codes are checked with django-otp's own devices, so its throttling applies: after each wrong code the
next attempt must wait twice as long as the one before (1 s, 2 s, 4 s, ...). Audit details hold ids,
counts and reasons only, never a code or a secret.
"""

import math
import re
import time
from base64 import b32encode
from dataclasses import dataclass

import segno
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django_otp import device_classes, devices_for_user
from django_otp import login as otp_login
from django_otp.models import Device
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.decorators import AuthenticatedHttpRequest
from audit.models import Action
from audit.services import record

TOTP_DEVICE_NAME = "Authenticator app"
BACKUP_DEVICE_NAME = "Backup codes"

METHOD_TOTP = "totp"
METHOD_BACKUP_CODE = "backup_code"

WRONG_CODE = "That code is not right. Check the time on your phone and try the newest code."
SETUP_GONE = "This set-up is no longer open. Reload the page to start again."
WRONG_CODE_OR_BACKUP = "That code is not right. Try the newest code from your app, or an unused backup code."

# What a person may type: spaces and hyphens are ignored, letters may be in either case.
TOTP_SHAPE = re.compile(r"^\d{6}$")
BACKUP_CODE_SHAPE = re.compile(r"^[a-z0-9]{8,16}$")


def normalise_code(raw: str) -> str:
    return re.sub(r"[\s-]", "", raw or "").lower()


@dataclass(frozen=True)
class CodeCheck:
    """What came of a code: the device that accepted it, or a message saying why none did."""

    device: Device | None = None
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.device is not None

    @property
    def method(self) -> str:
        return METHOD_BACKUP_CODE if isinstance(self.device, StaticDevice) else METHOD_TOTP


@dataclass(frozen=True)
class SecondFactorStatus:
    """What the account security page shows about a user's second factor."""

    app: TOTPDevice | None
    backup_codes_left: int

    @property
    def enrolled(self) -> bool:
        return self.app is not None


def start_enrolment(user: AbstractBaseUser) -> TOTPDevice:
    """The device the user is setting up: their unconfirmed one if they began before (so a reloaded
    page shows the same secret they may already have scanned), otherwise a new one."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=TOTP_DEVICE_NAME, confirmed=False)
    return device


def qr_code_data_uri(device: TOTPDevice) -> str:
    """The otpauth:// link as an SVG QR code, for an <img src> (the CSP allows data: images, no inline code)."""
    return segno.make(device.config_url, error="m").svg_data_uri(scale=5, border=2)


def grouped_secret(device: TOTPDevice) -> str:
    """The base32 secret in groups of four, for typing into an app by hand."""
    secret = b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(secret[start : start + 4] for start in range(0, len(secret), 4))


def confirm_enrolment(request: HttpRequest, device: TOTPDevice, token: str) -> CodeCheck:
    """Confirm the device being set up with a code from the app; on success the session counts as verified."""
    with transaction.atomic():
        pending = TOTPDevice.objects.select_for_update().filter(pk=device.pk, user=request.user, confirmed=False)
        locked = pending.first()
        if locked is None:  # finished in another tab, or reset by a manager meanwhile
            return CodeCheck(error=SETUP_GONE)
        check = _check_code(request, [locked], token, stage="enrol", wrong_code=WRONG_CODE)
        if check.ok:
            locked.confirmed = True
            locked.save(update_fields=["confirmed"])
    if check.ok:
        _mark_verified(request, locked)
        record(Action.MFA_ENROLLED, request=request, obj=locked, detail={"method": METHOD_TOTP})
    return check


def issue_backup_codes(request: HttpRequest) -> list[str]:
    """A fresh set of single-use backup codes for the signed-in user, replacing any earlier set.

    They are returned once, to be shown once: nothing shows them again.
    """
    user = request.user
    count = settings.OTP_BACKUP_CODE_COUNT
    codes = [StaticToken.random_token() for _ in range(count)]
    with transaction.atomic():
        StaticDevice.objects.filter(user=user).delete()
        device = StaticDevice.objects.create(user=user, name=BACKUP_DEVICE_NAME, confirmed=True)
        StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    record(Action.MFA_BACKUP_CODES, request=request, obj=device, detail={"count": count})
    return codes


def backup_codes_left(user: AbstractBaseUser) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


def verify(request: HttpRequest, token: str) -> CodeCheck:
    """Check a code from the app, or failing that a backup code (used up by this), for the signed-in
    user; on success the session counts as verified."""
    check = check_current_code(request, token, stage="verify")
    if check.ok:
        _mark_verified(request, check.device)
        record(Action.MFA_VERIFIED, request=request, obj=check.device, detail={"method": check.method})
    return check


def check_current_code(request: HttpRequest, token: str, *, stage: str) -> CodeCheck:
    """Check a code against every confirmed device of the signed-in user, the app first, then backup codes."""
    with transaction.atomic():
        devices = list(devices_for_user(request.user, for_verify=True))
        return _check_code(request, devices, token, stage=stage, wrong_code=WRONG_CODE_OR_BACKUP)


def _check_code(request: HttpRequest, devices: list[Device], token: str, *, stage: str, wrong_code: str) -> CodeCheck:
    """Try `token` on each device in turn; the caller holds row locks on them (select_for_update), so two
    requests cannot both use one code.

    While any of the devices is throttled nothing is tried: the person is told how long to wait.
    Each device counts its own failures, so after a success all of them are reset, or an old count on
    the backup codes would throttle the next typo.
    """
    wait = _seconds_to_wait(devices)
    if wait:
        record(Action.MFA_FAILED, request=request, detail={"stage": stage, "reason": "throttled"})
        return CodeCheck(error=f"Too many wrong codes. Wait {wait} seconds, then try again.")
    token = normalise_code(token)
    accepted = next((device for device in devices if device.verify_token(token)), None)
    if accepted is None:
        record(Action.MFA_FAILED, request=request, detail={"stage": stage, "reason": "wrong_code"})
        return CodeCheck(error=wrong_code)
    for device in devices:
        if device.throttling_failure_count:
            device.throttle_reset()
    return CodeCheck(device=accepted)


def _seconds_to_wait(devices: list[Device]) -> int:
    waits = []
    for device in devices:
        allowed, info = device.verify_is_allowed()
        if not allowed:
            locked_until = (info or {}).get("locked_until") or timezone.now()
            waits.append(max(1, math.ceil((locked_until - timezone.now()).total_seconds())))
    return max(waits, default=0)


def _mark_verified(request: HttpRequest, device: Device) -> None:
    # A new session key at the step up, as at sign-in: a key seen before the second factor is worth nothing after.
    request.session.cycle_key()
    otp_login(request, device)


def status(user: AbstractBaseUser) -> SecondFactorStatus:
    return SecondFactorStatus(
        app=TOTPDevice.objects.filter(user=user, confirmed=True).order_by("pk").first(),
        backup_codes_left=backup_codes_left(user),
    )


def turn_off(request: AuthenticatedHttpRequest, token: str) -> CodeCheck:
    """A patient turns their optional second factor off, proving it with a current code (or a backup code)."""
    check = check_current_code(request, token, stage="turn_off")
    if check.ok:
        reset_devices(request.user, request=request)
    return check


def reset_devices(user: AbstractBaseUser, *, request: HttpRequest) -> int:
    """Remove every second-factor device of `user` (app, backup codes, a half-finished enrolment).

    A manager does this for someone who lost their phone: at their next request that user's sessions
    no longer count as verified, and a staff user must enrol again. The actor is `request.user`.
    """
    with transaction.atomic():
        removed = sum(
            model.objects.filter(user=user).delete()[1].get(model._meta.label, 0) for model in device_classes()
        )
    record(Action.MFA_RESET, request=request, obj=user, detail={"user_id": user.pk, "devices_removed": removed})
    return removed


def give_confirmed_app(user: AbstractBaseUser) -> TOTPDevice:
    """`user`'s confirmed authenticator app, set up without a phone if they have none. For demo users only: their
    codes are read with app_code_now, so the second factor is asked for as ever but typed from the terminal."""
    device = TOTPDevice.objects.filter(user=user, confirmed=True).order_by("pk").first()
    return device or TOTPDevice.objects.create(user=user, name=TOTP_DEVICE_NAME, confirmed=True)


def app_code_now(device: TOTPDevice) -> str | None:
    """The code `device`'s app shows now. django-otp takes each code once, so when that one has been used, the
    next one, which the device already accepts within its allowance for clock drift; None if that is used too."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    now = time.time()
    for steps_ahead in range(device.tolerance + 1):
        totp.time = now + steps_ahead * device.step
        if totp.t() > device.last_t:
            return f"{totp.token():0{device.digits}d}"
    return None
