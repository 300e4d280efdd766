"""Requests no honest client sends are refused before any view sees them."""

from urllib.parse import unquote

from django.http import HttpResponseBadRequest


def reject_nul_bytes(get_response):
    """A NUL in the path or query string is a 400: PostgreSQL cannot store or compare it,
    so letting it reach a query would be a 500."""

    def middleware(request):
        query = request.META.get("QUERY_STRING", "")
        if "\x00" in request.path or "\x00" in unquote(query):
            return HttpResponseBadRequest("Bad request: the address contains a NUL character.")
        return get_response(request)

    return middleware
