"""The one error policy: a BillingError's kind decides how it is answered, everywhere.

    Invalid 400 · Refused 403 · NotFound 404 · Conflict 409 · Unavailable 503

A form view shows it as a form error (show_on_form) and answers with that status; an API
view answers JSON (error_json); anything a view does not catch becomes a page, or JSON under
/api/, in BillingErrorMiddleware. Services raise; only this module speaks HTTP about errors.
"""

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import defaults

from money.errors import BillingError, Conflict, Invalid, NotFound, Refused, Unavailable

# Most specific first: a subclass takes its nearest kind's status.
STATUSES = ((Unavailable, 503), (Conflict, 409), (NotFound, 404), (Refused, 403), (Invalid, 400), (BillingError, 400))
API_PREFIX = "/api/"


def status_for(error: BillingError) -> int:
    return next(status for kind, status in STATUSES if isinstance(error, kind))


def show_on_form(form, error: BillingError, field: str | None = None) -> int:
    """Put the error's message on the form (on `field`, or above the fields) and return the
    status the re-rendered page answers with."""
    form.add_error(field, error.message)
    return status_for(error)


def error_json(code: str, message: str, status: int) -> JsonResponse:
    """The API's one error shape: {"error": {"code": …, "message": …}}."""
    return JsonResponse({"error": {"code": code, "message": message}}, status=status)


def error_response(request, error: BillingError):
    if request.path.startswith(API_PREFIX):
        return error_json(error.code, error.message, status_for(error))
    if for_machines(request):
        return plain_text(error.message, status_for(error))
    return error_page(request, status_for(error), message=error.message)


# What a person sees for each status the site answers with a page: heading, then what to do.
PAGES = {
    400: (gettext_lazy("We could not read that request"), gettext_lazy("Go back, reload the page and try again.")),
    403: (
        gettext_lazy("You do not have access to this page"),
        gettext_lazy("Sign in with the account it belongs to, or go back."),
    ),
    404: (
        gettext_lazy("We could not find that page"),
        gettext_lazy("It may have moved, or it belongs to another account."),
    ),
    409: (gettext_lazy("This could not be done"), ""),
    503: (
        gettext_lazy("This is not available right now"),
        gettext_lazy("Nothing was changed. Please try again in a few minutes."),
    ),
}


def error_page(request, status: int, *, message: str = "", heading: str = "", advice: str = ""):
    """The site's one error page, in the product's look; `message` says what happened."""
    default_heading, default_advice = PAGES.get(status, PAGES[400] if status < 500 else PAGES[503])
    context = {
        "status": status,
        "heading": heading or default_heading,
        "message": message,
        "advice": advice or default_advice,
    }
    return render(request, "error.html", context, status=status)


class BillingErrorMiddleware:
    """A BillingError that escaped its view is still a clear message and a 4xx/503, never a 500."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if response.status_code == 405 and request.method == "GET" and not response.content:
            return _form_address(request, response)
        return response

    def process_exception(self, request, exception):
        if isinstance(exception, BillingError):
            return error_response(request, exception)
        return None


def _form_address(request, refused):
    """A form's address opened in the browser (a reload after a refusal, a bookmark): the site's page saying so,
    not an empty one. The API and gateways keep their bare 405."""
    if request.path.startswith(API_PREFIX) or for_machines(request):
        return refused
    page = error_page(
        request,
        405,
        heading=_("This address takes a form"),
        message=_("A form of the site sends what you typed here; there is no page to show at this address."),
        advice=_("Go back to the page the form is on, or start from your Overview."),
    )
    page["Allow"] = refused["Allow"]
    return page


def for_machines(request) -> bool:
    """A gateway's notification (settings.MACHINE_PATHS): answered in plain text, never a page of the site."""
    return request.path_info.startswith(tuple(settings.MACHINE_PATHS))  # as billing_center.machine_routes routes


def plain_text(message: str, status: int) -> HttpResponse:
    return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")


def page_not_found(request, exception=None):
    """handler404: the API's JSON under /api/, plain text for a gateway, the site's page elsewhere."""
    if request.path.startswith(API_PREFIX):
        return error_json("not_found", _("There is no such API endpoint."), 404)
    if for_machines(request):
        return plain_text("Not found: no such gateway notification address.", 404)
    return error_page(request, 404)


def bad_request(request, exception=None):
    """handler400: a request Django refused before any view (a bad Host header, a broken upload)."""
    if request.path.startswith(API_PREFIX):
        return error_json("bad_request", _("The request could not be read."), 400)
    if for_machines(request):
        return plain_text("Bad request: it could not be read.", 400)
    return error_page(request, 400)


def permission_denied(request, exception=None):
    """handler403."""
    if request.path.startswith(API_PREFIX):
        return error_json("forbidden", _("This is not allowed with these credentials."), 403)
    if for_machines(request):
        return plain_text("Forbidden.", 403)
    return error_page(request, 403)


def csrf_failure(request, reason=""):
    """CSRF_FAILURE_VIEW: a form posted without a valid token, usually opened before a sign-in or
    sign-out, or long ago. Nothing was done; say so and how to go on."""
    if request.path.startswith(API_PREFIX):
        return error_json("csrf_failed", _("This request needs the API's bearer token, not a browser session."), 403)
    return error_page(
        request,
        403,
        heading=_("This form has expired"),
        message=_(
            "For your security, a form stops working after you sign in or out, or when it was opened long ago. "
            "Nothing was changed."
        ),
        advice=_("Go back, reload the page (your entries may need typing again) and send it once more."),
    )


def server_error(request):
    """handler500: JSON under /api/ too, so a client's parser never meets an HTML page. The page
    is the standalone 500.html: rendering it must not need the database or the session."""
    if request.path.startswith(API_PREFIX):
        return error_json("server_error", _("Something went wrong on our side; nothing was changed. Try again."), 500)
    if for_machines(request):
        return plain_text("Server error: nothing was stored; send it again.", 500)
    return defaults.server_error(request)
