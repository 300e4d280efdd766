"""Gateway notifications go through the WSGI application gunicorn serves (billing_center.wsgi), which
hands /webhooks/ to Django with only the middleware a signed machine POST needs
(billing_center.machine_routes). Django's test client runs the site's full middleware, so these tests
call the application itself, as gunicorn does; the storm in tests/reliability does it over HTTP."""

import io
import json
from wsgiref.util import setup_testing_defaults

import pytest
from djmoney.money import Money

from billing_center.wsgi import application
from tests.factories import PendingTopUpFactory
from tests.fakes.stripe import event, paid_session, signed
from tests.intake import apply_stored
from topups.models import TopUp, WebhookDelivery

# Run as gunicorn runs it: Django opens and closes its connection per request (no test transaction around it).
pytestmark = pytest.mark.django_db(transaction=True)


def call(path: str, body: bytes = b"", *, method: str = "POST", length: int | None = None, **headers):
    """One request through the WSGI application: (status code, headers, body)."""
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body) if length is None else length),
        "wsgi.input": io.BytesIO(body),
        "HTTP_HOST": "testserver",
        **{f"HTTP_{name.upper()}": value for name, value in headers.items()},
    }
    setup_testing_defaults(environ)
    answered = []
    chunks = application(environ, lambda status, response_headers: answered.append((status, response_headers)))
    content = b"".join(chunks)
    getattr(chunks, "close", lambda: None)()
    ((status, response_headers),) = answered
    return int(status.split()[0]), dict(response_headers), content


@pytest.fixture
def topup(stripe_settings):
    return PendingTopUpFactory(amount=Money("100.00", "USD"))


def test_a_signed_notification_is_stored_answered_and_credited_once(topup):
    body, signature = signed(event("checkout.session.completed", paid_session(topup)))
    for _ in range(2):
        status, headers, content = call("/webhooks/stripe/", body, stripe_signature=signature)
        assert status == 200, content
        assert json.loads(content)["received"] is True
    # What the site's middleware would have added has no place in a machine's answer.
    assert "Set-Cookie" not in headers and "Content-Language" not in headers
    assert "Cookie" not in headers.get("Vary", "")
    # What stays: the request id of its log lines, and the security headers.
    assert headers["X-Request-ID"] and headers["X-Content-Type-Options"] == "nosniff"
    apply_stored()
    topup.refresh_from_db()
    assert topup.status == TopUp.Status.CREDITED
    assert topup.account.balance == Money("100.00", "USD")
    assert WebhookDelivery.objects.get().delivery_count == 2


def test_a_bad_signature_is_a_plain_400_and_recorded(topup):
    body, _ = signed(event("checkout.session.completed", paid_session(topup)))
    status, _, content = call("/webhooks/stripe/", body, stripe_signature="t=1,v1=00")
    assert status == 400 and b"signature" in content.lower()
    assert WebhookDelivery.objects.get().verdict == WebhookDelivery.Verdict.REJECTED


@pytest.mark.parametrize(
    ("path", "method", "headers", "expected"),
    [
        ("/webhooks/no-such-gateway/", "POST", {}, 404),
        ("/webhooks/stripe/", "GET", {}, 405),
        ("/webhooks/stripe/\x00", "POST", {}, 400),
        ("/webhooks/stripe/", "POST", {"host": "evil.example"}, 400),  # not in ALLOWED_HOSTS
    ],
)
def test_what_no_gateway_sends_is_a_clear_4xx_in_plain_text(stripe_settings, path, method, headers, expected):
    status, answer_headers, content = call(path, b"{}", method=method, **headers)
    assert status == expected, content
    assert b"<html" not in content.lower()
    if content:  # a 405 has no body
        assert answer_headers["Content-Type"] == "text/plain; charset=utf-8"
    assert not WebhookDelivery.objects.exists()


def test_a_gateway_answer_never_takes_the_language_of_the_page_served_before(stripe_settings):
    """Without LocaleMiddleware the thread had kept the last page's language: a gateway read 找不到该页面."""
    status, headers, _ = call("/login/", method="GET", accept_language="zh-hans")
    assert status == 200 and headers["Content-Language"] == "zh-hans"
    status, _, content = call("/webhooks/no-such-gateway/", b"{}")
    assert status == 404 and content == b"Not found: no such gateway notification address."


def test_a_gateway_configured_without_the_trailing_slash_is_heard(topup):
    """APPEND_SLASH had answered 301, and a gateway does not send its POST again after a redirect."""
    body, signature = signed(event("checkout.session.completed", paid_session(topup)))
    status, _, content = call("/webhooks/stripe", body, stripe_signature=signature)
    assert status == 200, content
    assert WebhookDelivery.objects.get().verdict == WebhookDelivery.Verdict.RECEIVED


def test_a_body_larger_than_any_request_is_refused_before_it_is_read(stripe_settings, settings):
    status, _, content = call("/webhooks/stripe/", b"", length=settings.MAX_REQUEST_BYTES + 1)
    assert status == 413 and b"too large" in content.lower()


def test_the_site_keeps_its_full_middleware():
    status, headers, _ = call("/login/", method="GET")
    assert status == 200
    assert "csrftoken" in headers.get("Set-Cookie", "") and headers["Content-Language"] == "en"


def test_machine_middleware_is_the_sites_own_in_its_order(settings):
    """Nothing runs for a gateway that the site does not run, and in the same order."""
    positions = [settings.MIDDLEWARE.index(path) for path in settings.MACHINE_MIDDLEWARE]
    assert positions == sorted(positions)
