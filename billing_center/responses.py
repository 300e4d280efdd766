"""Responses several apps send the same way."""

from django.http import HttpResponse
from django.shortcuts import redirect


def see_other(to, *args):
    """303 to a URL or view name, so the browser follows with a GET and a reload never re-posts."""
    response = redirect(to, *args)
    response.status_code = 303
    return response


def pdf_attachment(content: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(content, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response
