"""The one error policy: a BillingError's kind decides how it is answered, everywhere.

    Invalid 400 · Refused 403 · NotFound 404 · Conflict 409 · Unavailable 503

A form view shows it as a form error (show_on_form) and answers with that status; an API
view answers JSON (error_json); anything a view does not catch becomes a page, or JSON under
/api/, in BillingErrorMiddleware. Services raise; only this module speaks HTTP about errors.
"""

from django.http import JsonResponse
from django.shortcuts import render
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
    return render(request, "error.html", {"message": error.message}, status=status_for(error))


class BillingErrorMiddleware:
    """A BillingError that escaped its view is still a clear message and a 4xx/503, never a 500."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, BillingError):
            return error_response(request, exception)
        return None


def page_not_found(request, exception=None):
    """handler404: the API's JSON under /api/, the site's page elsewhere."""
    if request.path.startswith(API_PREFIX):
        return error_json("not_found", "There is no such API endpoint.", 404)
    return defaults.page_not_found(request, exception)


def server_error(request):
    """handler500: JSON under /api/ too, so a client's parser never meets an HTML page."""
    if request.path.startswith(API_PREFIX):
        return error_json("server_error", "Something went wrong on our side; nothing was changed. Try again.", 500)
    return defaults.server_error(request)
