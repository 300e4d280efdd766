"""Admin sign-in with a one-time code in one step, in the clerk's language."""

from django import forms
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy
from django_otp import devices_for_user
from django_otp.admin import OTPAdminAuthenticationForm
from django_otp.models import Device

from money.parsing import is_digits

# Authenticator apps show six digits (eight at most, by RFC 6238's own examples).
OTP_MAX_DIGITS = 8


class OneTimeCodeInput(forms.TextInput):
    """The code's box, empty whenever the page comes back: a refused code is spent or stale, and the password
    beside it is emptied too, so both are typed again."""

    def format_value(self, value):
        return None


class AdminLoginForm(OTPAdminAuthenticationForm):
    """django-otp's admin form, choosing the device itself when the user has exactly one.

    django-otp asks for an explicit device so that a wrong code is not counted against every
    device a user has; with one authenticator there is nothing to choose, so finance signs
    in with username, password and code on one page (templates/admin/login_with_code.html
    offers the choice only to a user with several). django-otp has no Chinese catalogue: the
    messages a clerk can meet are ours, and say what to do.
    """

    otp_error_messages = dict(
        OTPAdminAuthenticationForm.otp_error_messages,
        token_required=_("Enter the code from your authenticator app."),
        invalid_token=_(
            "That code is not the current one. Enter the code your authenticator app shows now; each code "
            "works once, so after a sign-in wait for the next one."
        ),
        device_required=_("Choose the authenticator the code is from."),
        not_interactive=_("This authenticator shows its codes itself: enter the code it shows."),
        n_failed_attempts=ngettext_lazy(
            "After %(failure_count)d wrong code, codes are not checked for a few seconds: try again shortly.",
            "After %(failure_count)d wrong codes, codes are not checked for a while: try again shortly.",
            "failure_count",
        ),
        verification_not_allowed=_("Codes are not checked for this authenticator just now: try again shortly."),
    )

    # A phone offers the code from its messages or its authenticator, and a number pad.
    otp_token = forms.CharField(
        required=False, widget=OneTimeCodeInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"})
    )

    def clean(self):
        try:
            return super().clean()
        finally:
            # django-otp writes the password back into the page after a wrong code (so that only the
            # code is typed again): it would sit in the page's source and the browser's copy of it.
            self.fields["password"].widget.render_value = False

    def clean_otp_token(self) -> str:
        """Plain ASCII digits only: django-otp reads the code with int(), which also accepts
        full-width or Arabic-Indic digits that no authenticator shows."""
        token = (self.cleaned_data.get("otp_token") or "").strip()
        if token and not is_digits(token, max_length=OTP_MAX_DIGITS):
            raise forms.ValidationError(_("Enter the code from your authenticator app in plain digits (0–9)."))
        return token

    def clean_otp(self, user):
        """django-otp's check of the code, reached only by a staff user whose password was right."""
        self.past_the_password = user is not None
        if self.past_the_password and not list(devices_for_user(user, confirmed=True)):
            raise forms.ValidationError(
                _("No authenticator is set up for this user: an administrator enrols one (manage.py add_totp_device)."),
                code="no_device",
            )
        return super().clean_otp(user)

    def offers_device_choice(self) -> bool:
        """Whether the page asks which authenticator the code is from: only past the password and the
        staff check (so the question tells no one else their password was right), and only to a user
        with more than one."""
        user = self.get_user()
        past = getattr(self, "past_the_password", False)
        return past and len(list(devices_for_user(user, confirmed=True))) > 1

    def _chosen_device(self, user):
        device = super()._chosen_device(user)
        if device is None:
            devices = list(devices_for_user(user, confirmed=True))
            if len(devices) == 1:
                device = Device.from_persistent_id(devices[0].persistent_id, for_verify=True)
        return device
