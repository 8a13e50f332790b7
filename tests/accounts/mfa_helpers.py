"""Codes as an authenticator app would show them, for tests that sign in through the real forms."""

import time
from base64 import b32decode
from datetime import timedelta

from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice


def code_for_key(key: bytes, *, steps_ahead: int = 0, step: int = 30, digits: int = 6) -> str:
    """The code an app with this key shows now, or `steps_ahead` time steps later.

    django-otp refuses a code from a time step it has already accepted, so a test that verifies the same
    device twice within 30 seconds uses the next step's code the second time (the device allows one step
    of clock drift).
    """
    totp = TOTP(key, step=step, digits=digits)
    totp.time = time.time() + steps_ahead * step
    return f"{totp.token():0{digits}d}"


def code_for(device: TOTPDevice, *, steps_ahead: int = 0) -> str:
    device.refresh_from_db()
    return code_for_key(device.bin_key, steps_ahead=steps_ahead, step=device.step, digits=device.digits)


def code_for_secret(secret: str) -> str:
    """The code for a base32 secret as the enrolment page shows it (in groups of four)."""
    return code_for_key(b32decode(secret.replace(" ", "")))


def wrong_code_for(device: TOTPDevice) -> str:
    """Six digits that are none of the codes the device accepts now (current step, one either side)."""
    accepted = {code_for(device, steps_ahead=offset) for offset in (-1, 0, 1)}
    return next(f"{n:06d}" for n in range(1_000_000) if f"{n:06d}" not in accepted)


def confirmed_device(user) -> TOTPDevice:
    return TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)


def let_the_throttle_pass(user) -> None:
    """Move the last failure back an hour, as if the person had waited out the delay django-otp asks for."""
    an_hour_ago = timezone.now() - timedelta(hours=1)
    for model in (TOTPDevice, StaticDevice):
        model.objects.filter(user=user).exclude(throttling_failure_timestamp=None).update(
            throttling_failure_timestamp=an_hour_ago
        )
