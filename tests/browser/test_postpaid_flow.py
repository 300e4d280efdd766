"""bob, a postpaid customer, in real headless Chromium: he sees his bills, repays one online
through the sandbox gateway (settled exactly once), and another by bank transfer with a
ticket that finance confirms in Django admin."""

import re

import pytest
from django.conf import settings
from django.contrib.auth.models import Group, Permission
from django_otp.plugins.otp_totp.models import TOTPDevice
from djmoney.money import Money
from playwright.sync_api import expect

from accounts.models import Account, LedgerEntry
from bills.models import Bill, Settlement
from tests.bills.conftest import NOVEMBER, OCTOBER, at, charge, close
from tests.browser.test_topup_flow import PASSWORD, quiet_page, sign_in, site_url  # noqa: F401 (fixtures)
from tests.factories import PostpaidAccountFactory, UserFactory
from tests.helpers import current_otp
from tests.tickets.conftest import FINANCE_CODENAMES, SAMPLE_PDF, usd_receiving_account

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def bob():
    account = PostpaidAccountFactory(name="Bob's Shop", credit_limit="500.00")
    user = UserFactory(username="bob", first_name="Bob", email="bob@example.com", account=account)
    charge(account, "30.00", at(2026, 10, 10), "oct-1", description="Compute, small")
    charge(account, "45.50", at(2026, 11, 4), "nov-1", description="Compute, large")
    charge(account, "12.25", at(2026, 11, 18), "nov-2", service="storage", description="Block storage")
    charge(account, "7.00", at(2026, 12, 2), "dec-1", description="Compute, small")
    october, november = close(account, OCTOBER), close(account, NOVEMBER)
    return user, october, november


def test_bob_sees_his_bill_and_repays_it_online_once(page, live_server, bob, screenshot_dir):
    user, october, november = bob
    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in(page, live_server.url, "bob")
    panel = page.get_by_test_id("postpaid-panel")
    expect(panel.get_by_test_id("unbilled")).to_contain_text("7.00")
    expect(panel.get_by_test_id("outstanding-total")).to_contain_text("87.75")
    expect(panel.get_by_test_id("credit-limit")).to_contain_text("405.25")  # 500 less 94.75 owed
    expect(page.get_by_role("link", name="Top Up")).to_have_count(0)
    page.screenshot(path=screenshot_dir / "postpaid-overview.png", full_page=True)
    page.get_by_test_id("limit-alert-form").get_by_role("checkbox").check()
    page.fill("#id_share", "150")
    page.get_by_test_id("limit-alert-form").get_by_role("button", name="Save alert").click()
    expect(page.get_by_test_id("limit-alert-form")).to_contain_text("between 1 and 100")
    page.fill("#id_share", "80")
    page.get_by_test_id("limit-alert-form").get_by_role("button", name="Save alert").click()
    expect(page.get_by_test_id("alert-state")).to_contain_text("80%")
    page.screenshot(path=screenshot_dir / "postpaid-limit-alert.png", full_page=True)

    panel.get_by_role("link", name=november.number).click()
    expect(page.get_by_test_id("bill-amount")).to_contain_text("57.75")
    expect(page.get_by_test_id("bill-lines")).to_contain_text("Block storage")
    page.screenshot(path=screenshot_dir / "postpaid-bill.png", full_page=True)

    page.get_by_test_id("repay-bill").click()
    expect(page).to_have_url(re.compile(r"/billing/repay/\?bill="))
    expect(page.get_by_test_id("chosen-total")).to_contain_text("57.75")
    page.screenshot(path=screenshot_dir / "postpaid-repay.png", full_page=True)
    page.get_by_role("button", name="Next").click()
    expect(page).to_have_url(re.compile(r"/sandbox-gateway/checkout/sbx_"))
    expect(page.get_by_test_id("gateway-amount")).to_have_text("57.75 USD")
    page.get_by_role("button", name="Pay 57.75 USD").click()
    expect(page.get_by_test_id("status")).to_have_text("Credited", timeout=15000)
    page.screenshot(path=screenshot_dir / "postpaid-repay-credited.png", full_page=True)

    # Back through the gateway again: nothing more is credited.
    page.go_back()
    page.reload()
    expect(page.locator("body")).to_contain_text("This payment session is closed")

    page.goto(f"{live_server.url}/billing/bills/{november.number}/")
    expect(page.get_by_test_id("bill-status")).to_have_text("Paid")
    expect(page.get_by_test_id("settlements")).to_contain_text("57.75")
    page.screenshot(path=screenshot_dir / "postpaid-bill-paid.png", full_page=True)
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.REPAYMENT).count() == 1
    assert Settlement.objects.get().bill == november
    assert Bill.objects.get(pk=october.pk).status == Bill.Status.OPEN

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/billing/")
    page.screenshot(path=screenshot_dir / "postpaid-overview-phone.png", full_page=True)
    page.goto(f"{live_server.url}/billing/bills/{november.number}/")
    page.screenshot(path=screenshot_dir / "postpaid-bill-phone.png", full_page=True)
    page.goto(f"{live_server.url}/billing/repay/")
    page.screenshot(path=screenshot_dir / "postpaid-repay-phone.png", full_page=True)


@pytest.fixture
def finance():
    group, _ = Group.objects.get_or_create(name=settings.FINANCE_GROUP)
    group.permissions.set(Permission.objects.filter(codename__in=FINANCE_CODENAMES))
    user = UserFactory(username="finance", first_name="Fiona", account=None, is_staff=True)
    user.groups.add(group)
    TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    return user


def test_bob_repays_a_bill_by_bank_transfer_and_finance_confirms_it(
    page, live_server, bob, finance, screenshot_dir, tmp_path
):
    user, october, november = bob
    usd_receiving_account()
    certificate = tmp_path / "bank-certificate.pdf"
    certificate.write_bytes(SAMPLE_PDF)
    page.set_viewport_size({"width": 1280, "height": 900})

    sign_in(page, live_server.url, "bob")
    page.get_by_role("link", name="Repay", exact=True).first.click()
    page.get_by_test_id("repay-bank").click()
    expect(page).to_have_url(re.compile(r"/billing/repay/bank-transfer/$"))
    expect(page.get_by_test_id("receiving-account")).to_contain_text("DE89 3704 0044 0532 0130 00")
    expect(page.get_by_test_id("repay-bank-bills")).to_contain_text(october.number)
    page.screenshot(path=screenshot_dir / "postpaid-bank-transfer.png", full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=screenshot_dir / "postpaid-bank-transfer-phone.png", full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})

    page.get_by_test_id("repay-bank-bills").get_by_role("row", name=re.compile(october.number)).get_by_test_id(
        "bill-ticket"
    ).click()
    expect(page.locator("#id_bill_number")).to_have_value(october.number)
    expect(page.locator("#id_amount")).to_have_value("30.00")
    page.fill("#id_transfer_date", "2026-12-02")
    page.fill("#id_bank_reference", "FT26120200077")
    page.fill("#id_payer_name", "Bob Example")
    page.fill("#id_payer_bank", "Example Savings Bank")
    page.fill("#id_payer_account", "00998877")
    page.set_input_files("#id_certificates", str(certificate))
    page.screenshot(path=screenshot_dir / "postpaid-ticket-form.png", full_page=True)
    page.get_by_role("button", name="Submit").click()
    expect(page).to_have_url(re.compile(r"/billing/tickets/BT-\d{4}-\d{6}/$"))
    expect(page.get_by_test_id("ticket-bill")).to_have_text(october.number)
    number = page.url.rstrip("/").rsplit("/", 1)[1]
    page.get_by_role("button", name="Sign out").click()

    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "finance")
    page.fill("#id_password", PASSWORD)
    page.fill("#id_otp_token", current_otp(TOTPDevice.objects.get(user=finance)))
    page.click("input[type=submit]")
    expect(page).to_have_url(re.compile(r"/admin/$"))
    page.goto(f"{live_server.url}/admin/tickets/transferticket/")
    page.get_by_role("link", name=number).click()
    page.get_by_test_id("action-confirm_and_credit").click()
    field = page.locator("input[id$='-received_amount']")
    field.fill("30.00")
    page.locator("input[id$='-bank_reference']").fill("STMT-2026-12-03-9")
    page.get_by_test_id("confirm-action").click()
    expect(page.locator(".messagelist")).to_contain_text("credited 30.00 USD")
    page.context.clear_cookies()

    sign_in(page, live_server.url, "bob")
    page.goto(f"{live_server.url}/billing/bills/{october.number}/")
    expect(page.get_by_test_id("bill-status")).to_have_text("Paid")
    page.screenshot(path=screenshot_dir / "postpaid-bill-paid-by-transfer.png", full_page=True)
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.REPAYMENT).count() == 1
    assert not LedgerEntry.objects.filter(kind=LedgerEntry.Kind.BANK_TRANSFER).exists()
    account = Account.objects.get(pk=user.account_id)
    assert account.balance == Money("-64.75", "USD")  # 94.75 used, 30 repaid


# Neither the page nor any of its tables scrolls sideways (a table's own scroll hides its last columns).
NOTHING_SIDEWAYS = """() => document.documentElement.scrollWidth <= window.innerWidth
    && [...document.querySelectorAll('.table-wrap')].every(wrap => wrap.scrollWidth <= wrap.clientWidth)"""


def test_on_a_phone_a_part_paid_bill_says_what_is_left_and_numbers_stay_whole(page, live_server, bob, screenshot_dir):
    """Seen by a helper on a 390 px phone, in Chinese: the Bills list showed only the bill's full amount after a
    part-payment (the Paid column is hidden there) while the Overview said what was left, so the customer saw two
    amounts owed; the bill number broke inside its digits ("BL-/2026-/11-/00000/2"); and the chart's caption broke
    after a minus sign, its highest balance reading as positive."""
    from bills.settlement import repay

    user, october, november = bob
    user.language = "zh-hans"
    user.save()
    repay(account_id=user.account_id, amount=Money("20.00", "USD"), source_ref="test:part", bill_ids=[november.pk])
    november.refresh_from_db()
    assert november.remaining == Money("37.75", "USD")
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, live_server.url, "bob")

    page.goto(f"{live_server.url}/billing/bills/")
    row = page.get_by_test_id("bills").locator("tr", has_text=november.number)
    expect(row.get_by_test_id("left-to-pay")).to_be_visible()
    expect(row.get_by_test_id("left-to-pay")).to_have_text("待付 US$37.75")
    lines = row.locator("a.ref").evaluate("a => Array.from(a.getClientRects()).map(r => Math.round(r.top))")
    assert len(set(lines)) == 1, lines  # on one line: it had taken five
    expect(row).to_contain_text(f"到期 {november.due_on:%Y-%m-%d}")  # the Due column's date, under the number
    assert page.evaluate(NOTHING_SIDEWAYS)
    page.screenshot(path=screenshot_dir / "postpaid-bills-phone-zh.png", full_page=True)

    page.goto(f"{live_server.url}/billing/")
    assert page.evaluate(NOTHING_SIDEWAYS)  # the unpaid bills' table too
    expect(page.locator(".chart-scale .num")).to_have_count(2)  # the lowest and the highest balance
    for day in (page.locator(".chart-scale > span").first, page.locator(".chart-scale > span").last):
        assert day.evaluate("span => span.getClientRects().length") == 1, day.inner_text()  # "11月6/日" had broken
    for amount in page.locator(".chart-scale .num").all():
        rects = amount.evaluate("span => Array.from(span.getClientRects()).length")
        assert rects == 1, amount.inner_text()  # the minus sign stays with its amount
    page.screenshot(path=screenshot_dir / "postpaid-overview-phone-zh.png", full_page=True)
