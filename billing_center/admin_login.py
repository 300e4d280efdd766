"""Admin sign-in with a one-time code in one step."""

from django_otp import devices_for_user
from django_otp.admin import OTPAdminAuthenticationForm
from django_otp.models import Device


class AdminLoginForm(OTPAdminAuthenticationForm):
    """django-otp's admin form, choosing the device itself when the user has exactly one.

    django-otp asks for an explicit device so that a wrong code is not counted against every
    device a user has; with one authenticator there is nothing to choose, so finance signs
    in with username, password and code on one page.
    """

    def _chosen_device(self, user):
        device = super()._chosen_device(user)
        if device is None:
            devices = list(devices_for_user(user, confirmed=True))
            if len(devices) == 1:
                device = Device.from_persistent_id(devices[0].persistent_id, for_verify=True)
        return device
