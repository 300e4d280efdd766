"""The expenditure alert as alice uses it, in headless Chromium, with a real Celery worker."""

import re

import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice
from djmoney.money import Money
from playwright.sync_api import expect

from accounts.ledger import post_ledger_entry
from accounts.models import OutboundSms
from accounts.sms import memory
from accounts.usage_api.charges import ChargeRequest, post_usage_charges
from tests.browser.test_topup_flow import quiet_page, sign_in, site_url  # noqa: F401 (fixtures)
from tests.conftest import wait_for
from tests.factories import PrepaidAccountFactory, UserFactory
from tests.helpers import current_otp

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_alice_sets_an_alert_confirms_her_number_and_a_charge_fires_it(
    page, live_server, screenshot_dir, celery_worker, admin_user
):
    memory.outbox.clear()
    account = PrepaidAccountFactory(name="Alice's Studio")
    post_ledger_entry(account_id=account.pk, amount=Money("120.00", "USD"), kind="adjustment", source_ref="seed:a")
    UserFactory(username="alice", first_name="Alice", email="alice@example.com", account=account)
    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in(page, live_server.url, "alice")

    expect(page.get_by_test_id("alert-state")).to_contain_text("Off")
    page.check("input[name=enabled]")
    page.fill("#id_threshold", "100")
    page.get_by_role("button", name="Save alert").click()
    expect(page.get_by_test_id("alert-state")).to_contain_text("100.00 USD")

    page.fill("#id_number", "138 0013 8000")  # no country code: refused with a message
    page.get_by_role("button", name="Add number").click()
    expect(page.locator("#alert")).to_contain_text("country code")
    page.fill("#id_number", "+86 138 0013 8000")
    page.get_by_role("button", name="Add number").click()
    expect(page.get_by_test_id("recipients")).to_contain_text("Awaiting code")

    # The phone: the code arrives by SMS (sent by the worker through the memory backend).
    assert wait_for(lambda: any("your code is" in m["text"] for m in memory.outbox))
    code = re.search(r"\b(\d{6})\b", memory.outbox[-1]["text"]).group(1)
    page.get_by_test_id("code-input").fill(code)
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_test_id("recipients")).to_contain_text("Confirmed")
    page.screenshot(path=screenshot_dir / "alert-settings.png", full_page=True)

    # The metering service posts a charge that takes the balance below 100 USD.
    post_usage_charges(service="metering", requests=[ChargeRequest(account.pk, Money("35.00", "USD"), "hour-1", "ecs")])
    assert wait_for(lambda: OutboundSms.objects.filter(alert__isnull=False, status="sent").exists())
    assert "85.00 USD, below your alert threshold of 100.00 USD" in memory.outbox[-1]["text"]

    page.goto(f"{live_server.url}/billing/alerts/")
    expect(page.get_by_test_id("alert-history")).to_contain_text("85.00 USD")
    expect(page.get_by_test_id("alert-history")).to_contain_text("Sent")
    page.screenshot(path=screenshot_dir / "alert-history.png", full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/billing/")
    page.screenshot(path=screenshot_dir / "overview-alert-phone.png", full_page=True)

    # Staff see it in the SMS log, with the number masked.
    page.context.clear_cookies()
    page.goto(f"{live_server.url}/admin/login/")
    device = TOTPDevice.objects.create(user=admin_user, name="phone", confirmed=True)
    page.fill("#id_username", admin_user.username)
    page.fill("#id_password", "password")
    page.fill("#id_otp_token", current_otp(device))
    page.click("input[type=submit]")
    page.goto(f"{live_server.url}/admin/accounts/outboundsms/")
    expect(page.locator("#result_list")).to_contain_text("+86 **** 8000")
    expect(page.locator("#result_list")).to_contain_text("Alert")
    page.screenshot(path=screenshot_dir / "admin-sms-log.png", full_page=True)
