"""Gateway notifications are served by Django with only the middleware a machine's signed POST needs.

A payment gateway's webhook (topups.webhooks) carries no session, cookie, CSRF token, user or language,
and is authenticated by its signature; yet the site's middleware (settings.MIDDLEWARE: sessions, locale,
CSRF, authentication, one-time passwords, messages, history, lockouts, …) had cost about a third of the
web's CPU per delivery (bench/README.md). `route_machines` hands the paths in settings.MACHINE_PATHS to a
second Django handler built from settings.MACHINE_MIDDLEWARE — the request id, the metrics, the host
check, the size and NUL guards, SecurityMiddleware's headers and the error handling stay; the errors are
plain text (billing_center.errors), no page of the site's — and everything else to the site's handler.
Django's test client runs the full list: the views behave the same under both.
"""

from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.utils import translation


class MachineHandler(WSGIHandler):
    """Django's WSGI handler with settings.MACHINE_MIDDLEWARE in place of settings.MIDDLEWARE, answering in
    settings.LANGUAGE_CODE: without LocaleMiddleware a thread kept the language of the last page it served,
    and a gateway read a Chinese reader's words."""

    def get_response(self, request):
        with translation.override(settings.LANGUAGE_CODE):
            return super().get_response(request)

    def load_middleware(self, is_async=False):
        # Django's loader reads settings.MIDDLEWARE: it is swapped while this handler is built, once, as
        # the WSGI module is imported (before any request), then put back.
        site = settings.MIDDLEWARE
        settings.MIDDLEWARE = settings.MACHINE_MIDDLEWARE
        try:
            super().load_middleware(is_async)
        finally:
            settings.MIDDLEWARE = site


def route_machines(site):
    """The WSGI application: settings.MACHINE_PATHS to a MachineHandler, every other path to `site`."""
    machines, prefixes = MachineHandler(), tuple(settings.MACHINE_PATHS)

    def application(environ, start_response):
        handler = machines if environ.get("PATH_INFO", "").startswith(prefixes) else site
        return handler(environ, start_response)

    return application
