"""Requests no honest client sends are refused before any view sees them."""

import time
from urllib.parse import unquote

from django.conf import settings
from django.http import HttpResponse, HttpResponseBadRequest

from money.parsing import is_digits

from .errors import API_PREFIX, error_json


def _refuse(request, status: int, code: str, message: str):
    """Under /api/ every answer is JSON; elsewhere plain text is enough for a client this broken."""
    if request.path.startswith(API_PREFIX):
        return error_json(code, message, status)
    if status == 400:
        return HttpResponseBadRequest(f"Bad request: {message}", content_type="text/plain; charset=utf-8")
    return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")


def reject_nul_bytes(get_response):
    """A NUL in the path or query string is a 400: PostgreSQL cannot store or compare it,
    so letting it reach a query would be a 500."""

    def middleware(request):
        query = request.META.get("QUERY_STRING", "")
        if "\x00" in request.path or "\x00" in unquote(query):
            return _refuse(request, 400, "bad_request", "the address contains a NUL character.")
        return get_response(request)

    return middleware


def limit_request_size(get_response):
    """A body larger than anything we accept is a 413 before a byte of it is read."""

    def middleware(request):
        length = request.META.get("CONTENT_LENGTH") or "0"
        if not is_digits(length):
            return _refuse(request, 400, "bad_request", "Content-Length is not a number.")
        # Length first: int() refuses strings of more than 4,300 digits with a ValueError.
        if len(length) > 15 or int(length) > settings.MAX_REQUEST_BYTES:
            limit = settings.MAX_REQUEST_BYTES // (1024 * 1024)
            return _refuse(request, 413, "too_large", f"Request too large: at most {limit} MB.")
        return get_response(request)

    return middleware


# Sliding the expiry writes the session; once a minute is precise enough for an hour.
STAFF_SESSION_REFRESH_SECONDS = 60


def staff_session_expiry(get_response):
    """Staff sessions expire after STAFF_SESSION_SECONDS of inactivity (customers keep the
    site default): a finance clerk's forgotten tab should not stay able to credit money."""

    def middleware(request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and user.is_staff:
            now = int(time.time())
            if now - request.session.get("staff_seen_at", 0) >= STAFF_SESSION_REFRESH_SECONDS:
                request.session["staff_seen_at"] = now
                request.session.set_expiry(settings.STAFF_SESSION_SECONDS)
        return get_response(request)

    return middleware
