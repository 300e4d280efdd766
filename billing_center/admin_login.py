"""Admin sign-in with a one-time code in one step."""

from django import forms
from django_otp import devices_for_user
from django_otp.admin import OTPAdminAuthenticationForm
from django_otp.models import Device

from money.parsing import is_digits

# Authenticator apps show six digits (eight at most, by RFC 6238's own examples).
OTP_MAX_DIGITS = 8


class AdminLoginForm(OTPAdminAuthenticationForm):
    """django-otp's admin form, choosing the device itself when the user has exactly one.

    django-otp asks for an explicit device so that a wrong code is not counted against every
    device a user has; with one authenticator there is nothing to choose, so finance signs
    in with username, password and code on one page.
    """

    def clean_otp_token(self) -> str:
        """Plain ASCII digits only: django-otp reads the code with int(), which also accepts
        full-width or Arabic-Indic digits that no authenticator shows."""
        token = (self.cleaned_data.get("otp_token") or "").strip()
        if token and not is_digits(token, max_length=OTP_MAX_DIGITS):
            raise forms.ValidationError("Enter the code from your authenticator app in plain digits (0–9).")
        return token

    def _chosen_device(self, user):
        device = super()._chosen_device(user)
        if device is None:
            devices = list(devices_for_user(user, confirmed=True))
            if len(devices) == 1:
                device = Device.from_persistent_id(devices[0].persistent_id, for_verify=True)
        return device
