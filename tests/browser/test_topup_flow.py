"""The pages as a person uses them, in real headless Chromium against a live server."""

import re
import threading
import time

import pytest
from django.core.signals import request_finished, request_started
from djmoney.money import Money
from playwright.sync_api import expect

from accounts.ledger import post_ledger_entry
from accounts.models import LedgerEntry
from tests.factories import EnterpriseMemberAccountFactory, PostpaidAccountFactory, PrepaidAccountFactory, UserFactory
from topups.models import TopUp

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "secret-pass-123"


@pytest.fixture(autouse=True)
def site_url(live_server, settings):
    """Return URLs and the sandbox's notifications go to SITE_URL: here, the live server."""
    settings.SITE_URL = live_server.url


QUIET_TIMEOUT = 30  # seconds for the requests in flight at the end of a test to be answered


@pytest.fixture(autouse=True)
def quiet_page(page, live_server):
    """No request of this test may write into the next one (or into the flush between them).

    At the end the browser is kept from sending any new request (the self-refreshing pages
    would keep sending them), then we wait until every request it sent has been answered and
    the live server, which runs in this process, is handling none, and only then leave the
    page. Any Content-Security-Policy violation the browser reports fails the test."""
    violations = []
    page.on("console", lambda message: "Content Security Policy" in message.text and violations.append(message.text))
    unanswered = set()  # requests the browser sent that have neither finished nor failed
    page.context.on("request", lambda request: unanswered.add(request))
    page.context.on("requestfinished", lambda request: unanswered.discard(request))
    page.context.on("requestfailed", lambda request: unanswered.discard(request))
    handling = [0]  # requests the live server has started and not yet finished
    lock = threading.Lock()

    def started(**kwargs):
        with lock:
            handling[0] += 1

    def finished(**kwargs):
        with lock:
            handling[0] -= 1

    request_started.connect(started, weak=False)
    request_finished.connect(finished, weak=False)
    try:
        yield
        page.context.route("**/*", lambda route: route.abort())
        deadline = time.monotonic() + QUIET_TIMEOUT
        while (unanswered or handling[0]) and time.monotonic() < deadline:
            page.wait_for_timeout(50)  # polls, and lets Playwright deliver the browser's events
        assert not unanswered, f"unanswered after {QUIET_TIMEOUT} s: {sorted(r.url for r in unanswered)}"
        assert handling[0] == 0, f"the live server still handles {handling[0]} requests after {QUIET_TIMEOUT} s"
        page.goto("about:blank")
    finally:
        request_started.disconnect(started)
        request_finished.disconnect(finished)
    assert violations == []


@pytest.fixture
def alice():
    account = PrepaidAccountFactory(name="Alice's Studio")
    post_ledger_entry(account_id=account.pk, amount=Money("50.00", "USD"), kind="adjustment", source_ref="seed:a")
    return UserFactory(username="alice", first_name="Alice", account=account)


def sign_in(page, base_url, username):
    page.goto(f"{base_url}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(re.compile(r"/billing/$"))


def test_alice_tops_up_through_the_sandbox_gateway_and_sees_her_new_balance(page, live_server, alice, screenshot_dir):
    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in(page, live_server.url, "alice")
    expect(page.get_by_test_id("balance")).to_contain_text("50.00")
    page.screenshot(path=screenshot_dir / "overview-before.png", full_page=True)

    page.get_by_role("link", name="Top Up").click()
    expect(page).to_have_url(re.compile(r"/billing/pay/$"))
    page.fill("#id_amount", "10,50")
    page.get_by_role("button", name="Next").click()
    expect(page.locator("#amount-error")).to_contain_text("Use a dot for decimals")
    page.screenshot(path=screenshot_dir / "pay-error.png", full_page=True)

    page.fill("#id_amount", "120.50")
    page.get_by_role("button", name="Next").click()
    expect(page).to_have_url(re.compile(r"/sandbox-gateway/checkout/sbx_"))
    expect(page.get_by_test_id("gateway-amount")).to_have_text("120.50 USD")
    page.screenshot(path=screenshot_dir / "sandbox-gateway.png", full_page=True)

    page.get_by_role("button", name="Pay 120.50 USD").click()
    expect(page).to_have_url(re.compile(r"/billing/topups/[0-9a-f-]+/$"))
    expect(page.get_by_test_id("status")).to_have_text("Credited", timeout=15000)
    page.screenshot(path=screenshot_dir / "return-credited.png", full_page=True)

    # Back to the gateway and through it again: the session is closed, nothing more is credited.
    page.go_back()
    page.reload()
    expect(page.locator("body")).to_contain_text("This payment session is closed")
    page.get_by_role("button", name="Return to merchant").click()
    expect(page.get_by_test_id("status")).to_have_text("Credited")
    page.get_by_role("link", name="Overview", exact=True).click()
    expect(page.get_by_test_id("balance")).to_contain_text("170.50")
    page.screenshot(path=screenshot_dir / "overview-after.png", full_page=True)
    assert LedgerEntry.objects.filter(kind="online_topup").count() == 1
    assert TopUp.objects.get().status == TopUp.Status.CREDITED


def test_a_declined_payment_shows_failed_and_credits_nothing(page, live_server, alice, screenshot_dir):
    sign_in(page, live_server.url, "alice")
    page.goto(f"{live_server.url}/billing/pay/")
    page.fill("#id_amount", "30")
    page.get_by_role("button", name="Next").click()
    page.get_by_role("button", name="Decline payment").click()
    expect(page.get_by_test_id("status")).to_have_text("Failed", timeout=15000)
    expect(page.locator("body")).to_contain_text("nothing was credited")
    page.screenshot(path=screenshot_dir / "return-declined.png", full_page=True)
    assert not LedgerEntry.objects.filter(kind="online_topup").exists()


def test_cancel_returns_to_billing_center_with_nothing_charged(page, live_server, alice):
    sign_in(page, live_server.url, "alice")
    page.goto(f"{live_server.url}/billing/pay/")
    page.fill("#id_amount", "30")
    page.get_by_role("button", name="Next").click()
    page.get_by_role("button", name="Cancel and return to merchant").click()
    expect(page.get_by_test_id("status")).to_have_text("Cancelled", timeout=15000)
    assert not LedgerEntry.objects.filter(kind="online_topup").exists()


def test_a_double_click_on_next_opens_one_checkout_per_submission_and_pays_once(page, live_server, alice):
    sign_in(page, live_server.url, "alice")
    page.goto(f"{live_server.url}/billing/pay/")
    page.fill("#id_amount", "20")
    page.get_by_role("button", name="Next").dblclick()
    expect(page).to_have_url(re.compile(r"/sandbox-gateway/checkout/sbx_"))
    page.get_by_role("button", name="Pay 20.00 USD").click()
    expect(page.get_by_test_id("status")).to_have_text("Credited", timeout=15000)
    assert LedgerEntry.objects.filter(kind="online_topup").count() == 1
    alice.account.refresh_from_db()
    assert alice.account.balance == Money("70.00", "USD")


@pytest.mark.parametrize(
    "factory, words",
    [
        (PostpaidAccountFactory, "Make a repayment against your bills"),
        (EnterpriseMemberAccountFactory, "enterprise master account"),
    ],
)
def test_bob_and_carol_see_why_they_cannot_top_up(page, live_server, screenshot_dir, factory, words):
    user = UserFactory(username="customer", account=factory())
    sign_in(page, live_server.url, "customer")
    expect(page.get_by_role("link", name="Top Up")).to_have_count(0)
    expect(page.get_by_test_id("topup-refusal")).to_contain_text(words)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/billing/pay/")
    expect(page.get_by_test_id("topup-refusal")).to_contain_text(words)
    expect(page.locator("#id_amount")).to_have_count(0)
    page.screenshot(path=screenshot_dir / f"pay-refused-{user.account.type}-phone.png", full_page=True)


def test_the_overview_works_on_a_phone(page, live_server, alice, screenshot_dir):
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, live_server.url, "alice")
    expect(page.get_by_test_id("balance")).to_be_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways on a phone ({width}px)"
    page.screenshot(path=screenshot_dir / "overview-phone.png", full_page=True)


def test_switch_currency_round_trip_then_pay_in_cny_and_get_usd_at_the_quoted_rate(
    page, live_server, alice, screenshot_dir
):
    from decimal import Decimal

    from djmoney.contrib.exchange.models import ExchangeBackend, Rate

    from accounts.models import OutboundEmail

    sheet = ExchangeBackend.objects.create(name="finance", base_currency="USD")
    Rate.objects.create(backend=sheet, currency="CNY", value=Decimal("7.1"))
    alice.email = "alice@example.com"
    alice.save()

    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in(page, live_server.url, "alice")
    page.goto(f"{live_server.url}/billing/pay/")
    expect(page.get_by_test_id("pay-currency")).to_have_text("USD")
    page.get_by_role("link", name="Switch Currency").click()
    expect(page).to_have_url(re.compile(r"/account/preferences/\?next=/billing/pay/$"))
    page.select_option("#id_payment_currency", "CNY")
    page.screenshot(path=screenshot_dir / "preferences.png", full_page=True)
    page.get_by_role("button", name="Save").click()

    expect(page).to_have_url(re.compile(r"/billing/pay/$"))
    expect(page.locator("body")).to_contain_text("You now pay online top-ups in CNY")
    expect(page.get_by_test_id("pay-currency")).to_have_text("CNY")
    expect(page.get_by_test_id("quote")).to_contain_text("Rate 1 USD = 7.1000 CNY")
    expect(page.get_by_test_id("quote")).to_contain_text("valid for 15 min")
    page.fill("#id_amount", "710")
    expect(page.get_by_test_id("quote")).to_contain_text("You pay 710.00 CNY · 100.00 USD will be credited")
    page.screenshot(path=screenshot_dir / "pay-quote-cny.png", full_page=True)

    page.get_by_role("button", name="Next").click()
    expect(page.get_by_test_id("gateway-amount")).to_have_text("710.00 CNY")
    page.get_by_role("button", name="Pay 710.00 CNY").click()
    expect(page.get_by_test_id("status")).to_have_text("Credited", timeout=15000)
    expect(page.locator("body")).to_contain_text("100.00 USD was added")
    expect(page.locator("body")).to_contain_text("1 USD = 7.1000 CNY")

    page.get_by_role("link", name="View receipt").click()
    expect(page.locator("body")).to_contain_text("710.00 CNY")
    page.screenshot(path=screenshot_dir / "receipt.png", full_page=True)
    receipt_url = page.url
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=screenshot_dir / "receipt-phone.png", full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390, "the receipt scrolls sideways on a phone"
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(receipt_url)
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download PDF").click()
    download = download_info.value
    assert download.suggested_filename.startswith("receipt-TU-") and download.suggested_filename.endswith(".pdf")
    assert open(download.path(), "rb").read(5) == b"%PDF-"

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Top-up records").click()
    expect(page.locator("table.data")).to_contain_text("710.00 CNY")
    page.get_by_role("link", name="Overview", exact=True).click()
    expect(page.get_by_test_id("balance")).to_contain_text("150.00")
    assert OutboundEmail.objects.get().to == "alice@example.com"
