"""The product's URLconf and error handlers, plus two views that fail on purpose: the branded
403 and 500 pages are reached the way production reaches them."""

from django.core.exceptions import PermissionDenied
from django.urls import path

from billing_center.urls import handler400, handler403, handler404, handler500  # noqa: F401
from billing_center.urls import urlpatterns as product


def refuse(request):
    raise PermissionDenied


def crash(request):
    raise RuntimeError("a bug")


urlpatterns = [path("test-refuse/", refuse), path("test-crash/", crash), path("api/v1/test-crash", crash), *product]
