from django.conf import settings
from django.contrib import messages
from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.dispatch import receiver
from django.utils import translation
from django.utils.translation import gettext


@receiver(user_logged_out)
def say_goodbye(sender, request, user, **kwargs):
    if request is not None:
        messages.success(request, gettext("You have signed out of Billing Center."), fail_silently=True)


@receiver(user_logged_in)
def remember_browser_language(sender, request, user, **kwargs):
    """At every sign-in, the customers' and admin's alike, the language the browser asks for (the header's switch,
    else Accept-Language) as User.browser_language: what e-mails and text messages go in while the profile follows
    the browser. They had gone in English to a reader of Chinese pages who never opened the language page; finance,
    signing in to admin, had not been asked at all (found by helpers)."""
    asked_for = request is not None and (
        settings.LANGUAGE_COOKIE_NAME in request.COOKIES or request.META.get("HTTP_ACCEPT_LANGUAGE")
    )
    if not asked_for:  # a script's sign-in, or a test's: nothing to remember (not the site's default, frozen)
        return
    asked = translation.get_language_from_request(request)
    if asked != user.browser_language:
        user.browser_language = asked
        user.save(update_fields=["browser_language"])
