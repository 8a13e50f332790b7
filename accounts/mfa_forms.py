"""Forms for the second-factor pages: each takes one code and checks only its shape; the device checks the rest."""

from django import forms

from accounts.mfa import BACKUP_CODE_SHAPE, TOTP_SHAPE, normalise_code

APP_CODE_HELP = "The 6-digit code your authenticator app shows now."
APP_CODE_FORMAT = "Enter the 6 digits your authenticator app shows."
ANY_CODE_FORMAT = "Enter the 6 digits your authenticator app shows, or one of your backup codes."


class AppCodeForm(forms.Form):
    """A code from the authenticator app only: used to confirm a new app."""

    code = forms.CharField(
        label="Code",
        max_length=20,
        help_text=APP_CODE_HELP,
        error_messages={"required": APP_CODE_FORMAT},
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}),
    )

    def clean_code(self) -> str:
        code = normalise_code(self.cleaned_data["code"])
        if not TOTP_SHAPE.match(code):
            raise forms.ValidationError(APP_CODE_FORMAT)
        return code


class CodeOrBackupCodeForm(forms.Form):
    """A code from the app or a backup code: used to verify, and to turn the second factor off."""

    code = forms.CharField(
        label="Code",
        max_length=40,
        help_text="The 6-digit code from your authenticator app, or a backup code if you do not have your phone.",
        error_messages={"required": ANY_CODE_FORMAT},
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "autocapitalize": "none"}),
    )

    def clean_code(self) -> str:
        code = normalise_code(self.cleaned_data["code"])
        if not (TOTP_SHAPE.match(code) or BACKUP_CODE_SHAPE.match(code)):
            raise forms.ValidationError(ANY_CODE_FORMAT)
        return code
