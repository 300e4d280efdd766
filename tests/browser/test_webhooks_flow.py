"""Developers › Webhooks as alice uses it, in headless Chromium at 1280 and 390 px: she adds an
endpoint (a private address refused first), copies the secret shown once, a transfer is credited
and she sees the delivery and its answer in the log."""

import re

import pytest
from djmoney.money import Money
from playwright.sync_api import expect

from accounts.ledger import credit_deposit
from accounts.models import WebhookEndpoint
from accounts.outbound_webhooks.delivery import deliver_endpoint
from tests.browser.test_topup_flow import quiet_page, sign_in, site_url  # noqa: F401 (fixtures)
from tests.factories import UserFactory
from tests.webhooks.conftest import receiver as webhook_receiver  # noqa: F401 (fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
WIDTHS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}


@pytest.mark.parametrize("width", WIDTHS)
def test_alice_adds_an_endpoint_and_sees_a_credit_delivered(page, live_server, screenshot_dir, request, width):
    receiver = request.getfixturevalue("webhook_receiver")
    alice = UserFactory(username="alice", first_name="Alice", email="alice@example.com")
    page.set_viewport_size(WIDTHS[width])
    sign_in(page, live_server.url, "alice")
    page.goto(f"{live_server.url}/billing/developers/webhooks/")
    expect(page.get_by_role("heading", name="Webhooks")).to_be_visible()
    expect(page.locator("main")).to_contain_text("No endpoints yet.")

    page.get_by_label("Endpoint URL").fill("https://192.168.0.10/hooks")
    page.get_by_label("Description").fill("Our ERP")
    page.get_by_role("checkbox", name=re.compile("topup.credited")).check()
    page.get_by_role("button", name="Add endpoint").click()
    expect(page.locator("main")).to_contain_text("a private address")
    page.screenshot(path=screenshot_dir / f"webhooks-refused-{width}.png", full_page=True)

    page.get_by_label("Endpoint URL").fill(receiver.url)
    page.get_by_role("button", name="Add endpoint").click()
    secret = WebhookEndpoint.objects.get().secret
    expect(page.get_by_test_id("webhook-secret")).to_have_text(secret)
    page.screenshot(path=screenshot_dir / f"webhooks-secret-{width}.png", full_page=True)

    credit_deposit(account_id=alice.account_id, amount=Money("120.00", "USD"), kind="bank_transfer", source_ref="b:W")
    deliver_endpoint(WebhookEndpoint.objects.get().pk)
    page.get_by_role("link", name="Go to the endpoint").click()
    log = page.get_by_test_id("webhook-deliveries")
    expect(log).to_contain_text("topup.credited")
    expect(log).to_contain_text("HTTP 200")
    page.screenshot(path=screenshot_dir / f"webhooks-endpoint-{width}.png", full_page=True)
