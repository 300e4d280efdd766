"""The Pay page in Chromium, in Chinese, on a desktop and a phone: the live quote a script writes
while the customer types reads its amounts as the server writes money in Chinese ("¥710.00",
"US$100.00"), like the limits under the field and the balance beside it; in English, as English
writes them ("710.00 CNY")."""

import re
from decimal import Decimal

import pytest
from djmoney.contrib.exchange.models import ExchangeBackend, Rate
from playwright.sync_api import expect

from accounts.preferences import set_payment_currency
from tests.browser.test_languages_walk import choose_language
from tests.browser.test_topup_flow import PASSWORD, alice, quiet_page, site_url  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
WIDTHS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}
QUOTE = {
    "zh-hans": ("您支付 ¥710.00 · 将入账 US$100.00", "US$10.00", "US$50.00"),
    "en": ("You pay 710.00 CNY · 100.00 USD will be credited", "10.00 USD", "50.00USD"),
}


@pytest.fixture
def pays_in_yuan(alice):  # noqa: F811 (the fixture imported above)
    sheet = ExchangeBackend.objects.create(name="finance", base_currency="USD")
    Rate.objects.create(backend=sheet, currency="CNY", value=Decimal("7.1"))
    set_payment_currency(account_id=alice.account_id, currency="CNY", actor=alice)
    return alice


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("language", QUOTE)
def test_the_live_quote_writes_money_as_the_page_does(page, live_server, pays_in_yuan, screenshot_dir, language, width):
    page.set_viewport_size(WIDTHS[width])
    choose_language(page, live_server.url, language)
    page.fill("#id_username", "alice")
    page.fill("#id_password", PASSWORD)
    with page.expect_navigation():
        page.locator("#main form[method=post] .btn-primary").click()
    expect(page).to_have_url(re.compile(r"/billing/$"))
    page.goto(f"{live_server.url}/billing/pay/")
    page.fill("#id_amount", "710")
    quote, minimum, balance = QUOTE[language]
    expect(page.get_by_test_id("quote")).to_contain_text(quote)
    expect(page.locator(".help")).to_contain_text(minimum)
    expect(page.locator(".balance")).to_have_text(balance)
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    page.screenshot(path=screenshot_dir / f"pay-quote-{language}-{width}.png", full_page=True)
