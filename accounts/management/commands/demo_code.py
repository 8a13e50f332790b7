"""Prints the sign-in code of a demo staff user's authenticator app, so the demo can be tried without a phone.

Refused unless DEBUG is on, and for anyone but the demo's own staff users: a real person's code comes from their
own phone, never from the server."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import mfa
from accounts.management.commands.seed_demo import DEMO_STAFF


class Command(BaseCommand):
    help = "Print the current second-factor code of a demo staff user (clinician, frontdesk, manager). DEBUG only."

    def add_arguments(self, parser) -> None:
        parser.add_argument("username", help=f"one of {', '.join(DEMO_STAFF)}")

    def handle(self, *args, username: str, **options) -> None:
        if not settings.DEBUG:
            raise CommandError("demo_code runs only with DEBUG on (as `make run` sets it): it is for the demo.")
        if username not in DEMO_STAFF:
            raise CommandError(f"Codes are printed for the demo's staff users only: {', '.join(DEMO_STAFF)}.")
        device = TOTPDevice.objects.filter(user__username=username, confirmed=True).order_by("pk").first()
        if device is None:
            raise CommandError(f"{username} has no authenticator app on file: run `python manage.py seed_demo`.")
        code = mfa.app_code_now(device)
        if code is None:
            raise CommandError("The current codes have just been used: run this again in half a minute.")
        self.stdout.write(f"{code}  (the code for {username} now; codes change every {device.step} seconds)")
