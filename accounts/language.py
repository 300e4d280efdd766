"""The reader's language and time zone: the header's switch, the profile, sign-in, and a middleware.

- Before sign-in, Django's LocaleMiddleware picks the language: the switch's cookie, else the
  browser's Accept-Language, else English.
- After sign-in the profile wins: `User.language` (empty follows the browser as above; e-mails and text
  messages then go in the language the browser asked for at the last sign-in, `User.browser_language`, kept by
  accounts.signals.remember_browser_language) and
  `User.time_zone` are activated for every request by `reader_middleware`, which runs after
  AuthenticationMiddleware. Dates are stored in UTC and shown in the reader's zone.
- The switch in the header posts here (`switch`), saving the choice on the profile of a signed-in
  user and in the language cookie for everyone, so the sign-in page after sign-out keeps it.
- Sign-in offers the browser's time zone (static/js/time-zone.js fills a hidden field): it is
  stored when the user has none yet, never over one they chose.
"""

from functools import cache
from zoneinfo import ZoneInfo, available_timezones

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.shortcuts import redirect, render
from django.utils import timezone, translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods

# The zones people live in (regions of the IANA database), and UTC; zoneinfo also knows aliases.
REGIONS = ("Africa/", "America/", "Antarctica/", "Asia/", "Atlantic/", "Australia/", "Europe/", "Indian/", "Pacific/")


@cache
def known_time_zones() -> frozenset[str]:
    return frozenset(available_timezones())


@cache
def offered_time_zones() -> tuple[str, ...]:
    return ("UTC", *sorted(name for name in known_time_zones() if name.startswith(REGIONS)))


def is_time_zone(name: str) -> bool:
    return isinstance(name, str) and name in known_time_zones()


def language_choices():
    return [("", _("The browser's language")), *settings.LANGUAGES]


def profile_language_choices(user):
    """A profile that follows the browser gets its pages in the browser's language; e-mails and text messages
    have no browser to follow, and go in the language the browser asked for at the user's last sign-in
    (User.browser_language), else the site's. The choice says which, named in the reader's language ("英语",
    not "en")."""
    mails = translation.get_language_info(user.browser_language or settings.LANGUAGE_CODE)["name_translated"]
    follow = gettext("The browser's language (e-mails and text messages in %(language)s)") % {"language": mails}
    return [("", follow), *settings.LANGUAGES]


class ReaderForm(forms.Form):
    language = forms.ChoiceField(
        label=_("Language"), choices=language_choices, required=False, widget=forms.Select(attrs={"class": "input"})
    )
    time_zone = forms.ChoiceField(
        label=_("Time zone"),
        required=False,
        help_text=_("Dates and times on every page are shown in this time zone."),
        widget=forms.Select(attrs={"class": "input", "aria-describedby": "id_time_zone-help"}),
    )

    def __init__(self, *args, reader=None, **kwargs):
        super().__init__(*args, **kwargs)
        if reader is not None:  # signed in: the choice is saved on the profile, with a time zone
            self.fields["language"].choices = profile_language_choices(reader)
            self.fields["time_zone"].choices = [
                ("", _("The site's time zone (%(zone)s)") % {"zone": settings.TIME_ZONE})
            ]
            self.fields["time_zone"].choices += [(name, name) for name in offered_time_zones()]
        else:
            del self.fields["time_zone"]

    def clean_language(self):
        # The switch and the page always send it: '' is a choice (follow the browser), a missing field
        # is a malformed form, not a reason to reset the profile's language.
        if "language" not in self.data:
            raise forms.ValidationError(_("Choose a language."), code="required")
        return self.cleaned_data["language"]


def save_reader_preferences(*, user, language: str, time_zone: str | None = None) -> None:
    """The profile's language ('' follows the browser) and, when given, its time zone ('' the site's)."""
    user.language = language
    fields = ["language"]
    if time_zone is not None:
        user.time_zone = time_zone
        fields.append("time_zone")
    user.full_clean(validate_unique=False, validate_constraints=False)
    user.save(update_fields=fields)


def remember_language(response, language: str):
    """The language cookie LocaleMiddleware reads before sign-in (and after sign-out)."""
    if not language:
        response.delete_cookie(settings.LANGUAGE_COOKIE_NAME, path=settings.LANGUAGE_COOKIE_PATH)
        return response
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        language,
        max_age=settings.LANGUAGE_COOKIE_AGE,
        path=settings.LANGUAGE_COOKIE_PATH,
        domain=settings.LANGUAGE_COOKIE_DOMAIN,
        secure=settings.LANGUAGE_COOKIE_SECURE or settings.SESSION_COOKIE_SECURE,
        httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
        samesite=settings.LANGUAGE_COOKIE_SAMESITE,
    )
    return response


def _next_url(request, fallback: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    allowed = url_has_allowed_host_and_scheme(target, {request.get_host()}, require_https=request.is_secure())
    return target if target and allowed else fallback


@require_http_methods(["GET", "POST"])
def reader_settings(request):
    """The page (and the header's switch) for language and time zone. Open before sign-in for the
    language, which is then kept in a cookie only."""
    signed_in = request.user.is_authenticated
    initial = {"language": request.user.language, "time_zone": request.user.time_zone} if signed_in else {}
    reader = request.user if signed_in else None
    form = ReaderForm(request.POST if request.method == "POST" else None, initial=initial, reader=reader)
    if request.method == "POST":
        if not form.is_valid():
            return render(request, "registration/reader_settings.html", {"form": form}, status=400)
        language = form.cleaned_data["language"]
        if signed_in:
            time_zone = form.cleaned_data["time_zone"] if "time_zone" in request.POST else None
            save_reader_preferences(user=request.user, language=language, time_zone=time_zone)
        translation.activate(language or translation.get_language_from_request(request))
        if "time_zone" in request.POST:
            messages.success(request, gettext("Saved. Pages now use your language and time zone."))
        return remember_language(redirect(_next_url(request, request.path)), language)
    return render(request, "registration/reader_settings.html", {"form": form})


class SignInView(auth_views.LoginView):
    """Django's sign-in, storing the browser's time zone for a user who has none yet (its language is remembered at
    every sign-in: accounts.signals.remember_browser_language)."""

    redirect_authenticated_user = True

    def form_valid(self, form):
        user = form.get_user()
        offered = self.request.POST.get("time_zone", "").strip()
        if not user.time_zone and is_time_zone(offered):
            user.time_zone = offered
            user.save(update_fields=["time_zone"])
        return super().form_valid(form)


def reader_zone(user) -> ZoneInfo:
    """The time zone `user` reads dates in, on pages and in what we send them: their own, else finance's for
    staff (its calendar's and its notes'), else the site's."""
    if is_time_zone(user.time_zone):
        return ZoneInfo(user.time_zone)
    return ZoneInfo(settings.FINANCE_TIME_ZONE if user.is_staff else settings.TIME_ZONE)


def reader_middleware(get_response):
    """After AuthenticationMiddleware: a signed-in user's own language and time zone for this request."""

    def middleware(request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            if user.language:
                translation.activate(user.language)
                request.LANGUAGE_CODE = translation.get_language()
            timezone.activate(reader_zone(user))
        try:
            return get_response(request)
        finally:
            timezone.deactivate()

    return middleware
