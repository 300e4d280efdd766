"""With DEBUG off (as `make run` and production serve), every error is a page in the product's
look that says what to do: 400, 403, 404, the CSRF failure and 500; JSON under /api/."""

import pytest
from django.test import Client

from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.error_urls")]


def branded(response, status: int) -> str:
    page = response.content.decode()
    assert response.status_code == status
    assert 'data-testid="error-page"' in page and f'data-status="{status}"' in page
    assert "Billing Center" in page and "css/app.css" in page
    assert "URLconf" not in page and "Traceback" not in page  # never Django's debug pages
    return page


def test_an_unknown_page_is_the_branded_404_without_a_list_of_urls(client):
    page = branded(client.get("/no-such-page/"), 404)
    assert "We could not find that page" in page and "Back to Billing Center" in page


def test_a_refused_request_is_the_branded_403(client):
    assert "You do not have access to this page" in branded(client.get("/test-refuse/"), 403)


def test_a_request_for_another_host_is_the_branded_400(client):
    page = branded(client.get("/", HTTP_HOST="evil.example"), 400)
    assert "We could not read that request" in page


def test_a_form_posted_without_its_csrf_token_says_the_form_expired_and_nothing_changed():
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(UserFactory())
    page = branded(browser.post("/billing/pay/", {"amount": "10.00"}), 403)
    assert "This form has expired" in page and "Nothing was changed" in page


def test_a_bug_is_the_standalone_branded_500():
    client = Client(raise_request_exception=False)
    page = branded(client.get("/test-crash/"), 500)
    assert "Something went wrong on our side" in page and "moved no money" in page


def test_under_the_api_the_same_errors_are_json():
    client = Client(raise_request_exception=False)
    crash = client.get("/api/v1/test-crash")
    assert crash.status_code == 500 and crash.json()["error"]["code"] == "server_error"
    assert client.get("/api/v1/nothing").json()["error"]["code"] == "not_found"


def test_debug_is_off_unless_asked_for(settings):
    """The embedded defaults serve like production; DEBUG=true is the developer's opt-in."""
    import subprocess
    import sys

    from tests.test_settings_and_commands import ROOT

    probe = "from billing_center.settings import base; print(base.DEBUG, base.DEMO)"
    env = {"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "billing_center.settings.base"}
    for extra, expected in (({}, "False False"), ({"DEBUG": "true", "DEMO": "true"}, "True True")):
        result = subprocess.run(
            [sys.executable, "-c", probe], cwd=ROOT, env={**env, **extra}, capture_output=True, text=True, timeout=60
        )
        assert result.stdout.strip() == expected, result.stderr


def test_a_forms_address_opened_in_the_browser_says_so_in_the_sites_page(client):
    """A reload of /billing/alert/ after saving an alert had shown an empty page (found by a helper)."""
    client.force_login(UserFactory())
    response = client.get("/billing/alert/")
    assert response.status_code == 405 and response["Allow"] == "POST"
    assert "This address takes a form" in response.content.decode() and "Overview" in response.content.decode()
    chinese = client.get("/billing/alert/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "This address takes a form" not in chinese
