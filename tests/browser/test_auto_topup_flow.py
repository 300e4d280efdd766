"""Auto top-up as alice uses it, in headless Chromium, with the sandbox gateway and a real Celery worker."""

import pytest
from djmoney.money import Money
from playwright.sync_api import expect

from accounts.ledger import post_ledger_entry
from accounts.usage_api.charges import ChargeRequest, post_usage_charges
from tests.browser.test_topup_flow import quiet_page, sign_in, site_url  # noqa: F401 (fixtures)
from tests.conftest import wait_for
from tests.factories import PrepaidAccountFactory, UserFactory
from topups.models import TopUp

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_alice_saves_a_card_turns_on_auto_top_up_and_usage_crossing_her_threshold_tops_up_once(
    page, live_server, screenshot_dir, celery_worker
):
    account = PrepaidAccountFactory(name="Alice's Studio")
    post_ledger_entry(account_id=account.pk, amount=Money("120.00", "USD"), kind="adjustment", source_ref="seed:a")
    UserFactory(username="alice", first_name="Alice", email="alice@example.com", account=account)
    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in(page, live_server.url, "alice")

    page.goto(f"{live_server.url}/billing/pay/")
    page.get_by_role("link", name="Auto top-up").click()
    expect(page.get_by_test_id("auto-state")).to_contain_text("Off")
    page.get_by_test_id("save-card").click()
    # The sandbox's own page: nothing is charged, a test card is saved.
    expect(page.get_by_test_id("gateway-amount")).to_contain_text("Nothing is charged now")
    page.get_by_role("button", name="Save test card Visa •••• 4242").click()
    expect(page.get_by_test_id("card-label")).to_contain_text("Visa •••• 4242")

    page.check("#id_enabled")
    page.fill("#id_threshold", "100")
    page.fill("#id_amount", "50")
    page.fill("#id_daily_ceiling", "200")
    page.fill("#id_monthly_ceiling", "1000")
    page.get_by_test_id("save-auto").click()
    expect(page.get_by_test_id("auto-state")).to_contain_text("On")
    page.screenshot(path=screenshot_dir / "auto-topup.png", full_page=True)

    # The metering stream: three charges, the second crosses 100 USD (120 → 90), the third stays below.
    for n, amount in enumerate(("15.00", "15.00", "5.00")):
        post_usage_charges(
            service="metering", requests=[ChargeRequest(account.pk, Money(amount, "USD"), f"hour-{n}", "ecs")]
        )
    assert wait_for(lambda: TopUp.objects.filter(is_automatic=True, status=TopUp.Status.CREDITED).exists())
    page.reload()
    expect(page.locator("table")).to_contain_text("Credited")
    assert TopUp.objects.filter(is_automatic=True).count() == 1
    account.refresh_from_db()
    assert account.balance == Money("135.00", "USD")  # 120 − 35 + 50
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=screenshot_dir / "auto-topup-phone.png", full_page=True)
