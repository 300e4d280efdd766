from django.http import HttpResponse
from django.urls import include, path


def trivial(request):
    """The floor a page is measured against: the same middleware (session, user, CSRF, CSP…), no work."""
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [
    path("bench/trivial/", trivial),
    path("", include("billing_center.urls")),
]
