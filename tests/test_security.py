"""Promises about every URL and every response: login required, CSRF everywhere except
token- or signature-authenticated machine endpoints, a strict Content-Security-Policy."""

import re
from pathlib import Path

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from tests.factories import UserFactory
from tests.helpers import staff_login

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parent.parent

# Reachable without a session, and why.
PUBLIC = {
    "login": "the login page",
    "logout": "signs out (POST)",
    "healthz": "load balancer probe",
    "metrics": "Prometheus scrapers: a bearer token or an address allow-list (tests/test_metrics.py)",
    "payment_webhook": "signed server-to-server notifications",
    "payment_webhook_without_slash": "the same, for a gateway configured without the trailing slash",
    "home": "redirects to the login page",
    "reader_settings": "the language switch, also on the sign-in page (a cookie until sign-in)",
    "javascript-catalog": "the JavaScript messages of the page's language",
}
PUBLIC_PREFIXES = ("sandbox-gateway/", "admin/", "api/v1/", "static/")
# Views that may skip CSRF: they authenticate every request with a signature or a bearer
# token and use no cookie.
CSRF_EXEMPT_ALLOWED = {"topups.webhooks.payment_webhook", "accounts.usage_api.views."}


def walk(resolver=None, prefix=""):
    resolver = resolver or get_resolver()
    for pattern in resolver.url_patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from walk(pattern, route)
        elif isinstance(pattern, URLPattern):
            yield route, pattern


def concrete(route: str) -> str:
    """A URL for a route, with made-up values for its parameters."""
    path = re.sub(r"<int:[^>]+>", "1", route)
    path = re.sub(r"<uuid:[^>]+>", "00000000-0000-0000-0000-000000000001", path)
    path = re.sub(r"<(?:str|slug):[^>]+>", "x", path)
    path = re.sub(r"<[^>]+>", "x", path)
    path = path.replace("^", "").replace("$", "").replace("\\Z", "")
    return "/" + re.sub(r"\(\?P<[^>]+>[^)]*\)", "x", path)


def customer_routes():
    for route, pattern in walk():
        if route.startswith(PUBLIC_PREFIXES) or pattern.name in PUBLIC:
            continue
        yield route, pattern


def test_every_customer_url_needs_a_login(client):
    checked = 0
    for route, _ in customer_routes():
        url = concrete(route)
        for method in ("get", "post"):
            response = getattr(client, method)(url)
            assert response.status_code in (302, 405), (url, method, response.status_code)
            if response.status_code == 302:
                assert response["Location"].startswith("/login/"), (url, response["Location"])
        checked += 1
    assert checked >= 15


def test_the_api_needs_a_token_and_admin_needs_staff(client):
    for route, _ in walk():
        if route.startswith("api/v1/"):
            response = client.post(concrete(route))
            assert response.status_code in (401, 404, 405), route
    client.force_login(UserFactory())  # a customer
    response = client.get("/admin/tickets/transferticket/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_only_signed_or_token_endpoints_skip_csrf():
    exempt = []
    for route, pattern in walk():
        callback = pattern.callback
        if getattr(callback, "csrf_exempt", False):
            name = f"{callback.__module__}.{getattr(callback, '__name__', '')}"
            if route.startswith("admin/"):
                continue  # Django admin's own views are wrapped and protect themselves
            exempt.append(name)
    assert exempt, "expected the webhooks and the API"
    for name in exempt:
        assert any(name.startswith(allowed) for allowed in CSRF_EXEMPT_ALLOWED), name


def test_pages_carry_a_strict_content_security_policy(client):
    client.force_login(UserFactory())
    for url in ("/billing/", "/billing/pay/", "/billing/pay/bank-transfer/", "/login/"):
        response = client.get(url)
        policy = response["Content-Security-Policy"]
        directives = dict(d.strip().split(" ", 1) for d in policy.split(";") if " " in d.strip())
        assert directives["script-src"] == "'self'", url
        assert directives["frame-ancestors"] == "'none'" and directives["object-src"] == "'none'"
        assert response["X-Frame-Options"] == "DENY"
        assert response["X-Content-Type-Options"] == "nosniff"


@pytest.mark.django_db
def test_a_webhooks_answer_carries_no_policy_unless_a_report_only_one_is_configured(client, stripe_settings):
    """The webhook opted out (csp_exempt): its answer is for a machine. Skipping the policy must
    not skip a report-only policy the view did not opt out of."""
    from tests.fakes.stripe import post_webhook

    answer = post_webhook(client, b'{"id": "evt_x"}', "t=1,v1=forged")
    assert answer.status_code == 400 and "Content-Security-Policy" not in answer

    stripe_settings.CONTENT_SECURITY_POLICY_REPORT_ONLY = {"DIRECTIVES": {"default-src": ["'self'"]}}
    answer = post_webhook(client, b'{"id": "evt_y"}', "t=1,v1=forged")
    assert "Content-Security-Policy" not in answer
    assert answer["Content-Security-Policy-Report-Only"] == "default-src 'self'"


def test_no_template_has_an_inline_script_or_event_handler():
    for template in (ROOT / "templates").rglob("*.html"):
        text = template.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), template
        assert not re.search(r"\son[a-z]+\s*=", text), template


def test_staff_sessions_expire_within_the_hour_customer_sessions_do_not(client, settings):
    staff = UserFactory(account=None, is_staff=True)
    staff_login(client, staff)
    client.get("/admin/")
    assert client.session.get_expiry_age() == settings.STAFF_SESSION_SECONDS
    client.force_login(UserFactory())
    client.get("/billing/")
    assert client.session.get_expiry_age() == settings.SESSION_COOKIE_AGE


def test_log_lines_carry_no_secret_and_no_full_phone_number(settings):
    import logging

    from billing_center.log_redaction import RedactingFormatter

    settings.STRIPE_SECRET_KEY = "sk_live_do_not_log_me_123"
    settings.TWILIO_AUTH_TOKEN = "twilio-auth-token-abcdef"
    formatter = RedactingFormatter("%(levelname)s %(message)s")
    try:
        raise RuntimeError(f"gateway said no to key {settings.STRIPE_SECRET_KEY}")
    except RuntimeError:
        record = logging.LogRecord(
            "billing", logging.WARNING, __file__, 1, "SMS to %s failed via %s (%s) %s", None, None
        )
        record.args = (
            "+8613800138000",
            "redis://:hunter2-broker-pass@cache.internal:6379/0",
            "Authorization: Bearer bc_live_0123456789abcdef",
            settings.TWILIO_AUTH_TOKEN,
        )
        import sys

        record.exc_info = sys.exc_info()
    line = formatter.format(record)

    for leaked in ("8613800138000", "hunter2-broker-pass", "bc_live_0123456789abcdef", "sk_live_do_not_log_me_123"):
        assert leaked not in line
    assert "twilio-auth-token" not in line and "+86 **** 8000" in line and "redis://:***@cache.internal" in line
    assert "Traceback" in line  # the traceback is kept, only its secret is gone
    # Amounts and ids are not phone numbers.
    plain = logging.LogRecord(
        "billing", logging.INFO, __file__, 1, "credited +100.00 USD to account 12345678", None, None
    )
    assert formatter.format(plain).endswith("credited +100.00 USD to account 12345678")
    # The configured console handler uses it.
    assert settings.LOGGING["formatters"]["plain"]["()"] == "billing_center.log_redaction.RedactingFormatter"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "length, status",
    [("999999999999", 413), ("60817409", 413), ("abc", 400), ("-1", 400), ("１２", 400), ("12", None)],
)
def test_a_body_larger_than_anything_we_accept_is_refused_before_it_is_read(client, settings, length, status):
    for path in ("/billing/tickets/new/", "/webhooks/stripe/", "/api/v1/charges", "/login/"):
        response = client.generic("POST", path, b"x" * 12, content_type="text/plain", CONTENT_LENGTH=length)
        if path.startswith("/api/"):  # the API answers JSON, as everywhere under /api/
            refused_here = response.json().get("error", {}).get("code") in ("too_large", "bad_request") and (
                b"Request too large" in response.content or b"Content-Length" in response.content
            )
        else:
            refused_here = response.content.startswith((b"Request too large", b"Bad request: Content-Length"))
        if status is None:  # an honest length passes on to the view, which answers for itself
            assert not refused_here, path
        else:
            assert response.status_code == status and refused_here, (path, length, response.status_code)
    assert settings.MAX_REQUEST_BYTES == 5 * settings.CERTIFICATE_MAX_BYTES + settings.DATA_UPLOAD_MAX_MEMORY_SIZE


def test_a_secret_shown_once_never_travels_in_a_cookie(client):
    """A new API token was put in Django's messages cookie: signed, not encrypted, it is readable by anyone who sees
    the browser's cookies or a request's headers (found by a helper). Messages are kept in the session."""
    from accounts.models import ServiceToken, User

    admin = User.objects.create_superuser("root", "root@example.com", "pw-123456789")
    staff_login(client, admin)
    added = client.post("/admin/accounts/servicetoken/add/", {"service": "metering", "name": "m"})
    assert added.status_code == 302 and ServiceToken.objects.exists()
    assert "messages" not in added.cookies
    shown = client.get(added["Location"]).content.decode()
    assert re.search(r"bc_[A-Za-z0-9_-]{20,}", shown)  # shown once, on the next page
    assert not re.search(r"bc_[A-Za-z0-9_-]{20,}", client.get(added["Location"]).content.decode())
