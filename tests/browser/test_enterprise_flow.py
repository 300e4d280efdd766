"""Enterprise funds as dave and carol use them, in headless Chromium at 1280 and 390 px: dave
allocates 300 to carol and reclaims 100 on his Enterprise page; carol signs in and sees 200."""

import re

import pytest
from djmoney.money import Money
from playwright.sync_api import expect

from accounts.ledger import post_ledger_entry
from accounts.models import FundMove
from accounts.verification import ledger_mismatches, unbalanced_transfers
from tests.browser.test_topup_flow import quiet_page, sign_in, site_url  # noqa: F401 (fixtures)
from tests.factories import EnterpriseMemberAccountFactory, PrepaidAccountFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
WIDTHS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}


@pytest.fixture
def enterprise():
    master = PrepaidAccountFactory(name="Dave's Enterprise")
    post_ledger_entry(account_id=master.pk, amount=Money("1000.00", "USD"), kind="adjustment", source_ref="seed:d")
    UserFactory(username="dave", first_name="Dave", email="dave@example.com", account=master)
    carol = EnterpriseMemberAccountFactory(name="Carol", enterprise_master=master)
    UserFactory(username="carol", first_name="Carol", email="carol@example.com", account=carol)
    EnterpriseMemberAccountFactory(name="Erin", enterprise_master=master)
    return carol


@pytest.mark.parametrize("width", WIDTHS)
def test_dave_allocates_300_to_carol_and_reclaims_100_and_carol_sees_200(
    page, live_server, screenshot_dir, enterprise, width
):
    page.set_viewport_size(WIDTHS[width])
    sign_in(page, live_server.url, "dave")
    page.get_by_role("link", name="Enterprise").click()
    expect(page).to_have_url(re.compile(r"/billing/enterprise/$"))
    expect(page.get_by_test_id("master-available")).to_contain_text("1,000.00")
    carol = page.locator(f"#member-{enterprise.pk}")
    expect(carol.get_by_test_id("member-available")).to_have_text("0.00 USD")

    carol.get_by_label("Allocate to Carol").fill("1e3")  # refused: digits only
    carol.get_by_role("button", name="Allocate").click()
    expect(carol).to_contain_text("Enter the amount in digits")
    carol.get_by_label("Allocate to Carol").fill("300")
    carol.get_by_role("button", name="Allocate").click()
    expect(page.locator("main")).to_contain_text("Allocated 300.00 USD to Carol.")
    expect(carol.get_by_test_id("member-available")).to_have_text("300.00 USD")
    expect(page.get_by_test_id("master-available")).to_contain_text("700.00")

    carol.get_by_label("Reclaim unspent funds from Carol").fill("500")  # more than she has
    carol.get_by_role("button", name="Reclaim").click()
    expect(carol).to_contain_text("Carol has 300.00 USD left: you cannot reclaim 500.00 USD.")
    page.screenshot(path=screenshot_dir / f"enterprise-refused-{width}.png", full_page=True)
    carol.get_by_label("Reclaim unspent funds from Carol").fill("100")
    carol.get_by_role("button", name="Reclaim").click()
    expect(page.locator("main")).to_contain_text("Reclaimed 100.00 USD from Carol.")
    expect(carol.get_by_test_id("member-available")).to_have_text("200.00 USD")
    expect(page.get_by_test_id("moves")).to_contain_text("Reclaimed from Carol")
    page.screenshot(path=screenshot_dir / f"enterprise-{width}.png", full_page=True)

    page.get_by_role("button", name="Sign out").click()
    sign_in(page, live_server.url, "carol")
    funds = page.get_by_test_id("member-funds")
    expect(funds.get_by_test_id("member-available")).to_have_text("200.00 USD")
    expect(page.get_by_test_id("balance")).to_contain_text("200.00")
    expect(funds.get_by_test_id("funded-by")).to_contain_text("Dave's Enterprise")
    expect(funds.get_by_test_id("allocations-received")).to_contain_text("+300.00 USD")
    expect(funds.get_by_test_id("allocations-received")).to_contain_text("-100.00 USD")
    expect(funds.get_by_test_id("ask-master")).to_contain_text("ask an administrator of Dave's Enterprise")
    expect(page.get_by_role("link", name="Enterprise")).to_have_count(0)
    expect(page.get_by_role("link", name="Top Up")).to_have_count(0)
    page.screenshot(path=screenshot_dir / f"member-overview-{width}.png", full_page=True)

    assert FundMove.objects.count() == 2
    assert ledger_mismatches() == []
    assert unbalanced_transfers() == []


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_the_top_bar_holds_an_enterprise_masters_nine_links_on_one_line_at_1280_px(
    page, live_server, screenshot_dir, enterprise, language
):
    """The most links anyone has (an enterprise master's) and who is signed in fit one line on a
    1280 px screen in both languages; the account's name is then in the tooltip, shown from 1441 px."""
    from accounts.models import User

    User.objects.filter(username="dave").update(language=language)
    page.set_viewport_size(WIDTHS["desktop"])
    sign_in(page, live_server.url, "dave")
    links = page.locator("header nav a")
    expect(links).to_have_count(9)
    tops = {round(box["y"]) for box in (links.nth(i).bounding_box() for i in range(9))}
    assert len(tops) == 1, f"the links sit on {len(tops)} lines: {sorted(tops)}"
    assert page.locator("header.topbar").bounding_box()["height"] <= 60
    who = page.locator("header .userbox > span")
    expect(who).to_have_attribute("title", "Dave · Dave's Enterprise")
    expect(who.locator(".account-name")).to_be_hidden()
    page.screenshot(path=screenshot_dir / f"topbar-master-{language}.png")
    page.set_viewport_size({"width": 1600, "height": 900})  # room enough: the account's name shows too
    expect(who).to_have_text("Dave · Dave's Enterprise")
    expect(who.locator(".account-name")).to_be_visible()
