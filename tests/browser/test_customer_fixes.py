"""What a first-time customer tripped over, tried again in Chromium at 1280 and 390 px: payments
left unpaid pile up as one summary she can cancel from; the ticket form keeps her certificate
when another field is wrong; a transfer to an account retired since can still be named on it;
a wrong address is a page in the product's look; the alert history lists the e-mails of an alert
beside its SMS."""

import re
from decimal import Decimal

import pytest
from django.utils import timezone
from djmoney.money import Money
from playwright.sync_api import expect

from accounts.alerts import check_balance_alert, set_alert
from accounts.ledger import post_ledger_entry
from accounts.models import Account, AlertRecipient, BalanceAlert
from accounts.recipients import add_email_recipient
from tests.browser.test_topup_flow import alice, quiet_page, sign_in, site_url  # noqa: F401 (fixtures)
from tests.tickets.conftest import SAMPLE_PDF, usd_receiving_account
from tickets.models import TransferTicket
from topups.models import SandboxCheckout, TopUp

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("alice")]
WIDTHS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}


def leave_unpaid(page, base_url, amount: str) -> None:
    """Start a top-up, reach the sandbox's payment page, and walk away."""
    page.goto(f"{base_url}/billing/pay/")
    page.fill("#id_amount", amount)
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_role("button", name=re.compile(r"^Pay "))).to_be_visible()


def fits_sideways(page) -> None:
    """Nothing on the page scrolls sideways at this width."""
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")


def fill_ticket(page, certificate, amount: str = "320.00") -> None:
    page.fill("#id_amount", amount)
    page.fill("#id_transfer_date", "2026-11-20")
    page.fill("#id_bank_reference", "FT26112000042")
    page.fill("#id_payer_name", "Alice Example")
    page.fill("#id_payer_bank", "Example Savings Bank")
    page.fill("#id_payer_account", "00112233")
    page.fill("#id_contact_email", "alice@example.com")
    page.set_input_files("#id_certificates", str(certificate))


@pytest.mark.parametrize("width", WIDTHS)
def test_unpaid_checkouts_are_one_summary_and_each_can_be_cancelled(page, live_server, screenshot_dir, width):
    page.set_viewport_size(WIDTHS[width])
    sign_in(page, live_server.url, "alice")
    for amount in ("25", "40"):
        leave_unpaid(page, live_server.url, amount)
    page.goto(f"{live_server.url}/billing/")
    summary = page.get_by_test_id("awaiting")
    expect(summary).to_have_count(1)
    expect(summary).to_contain_text("2 payments you started are awaiting payment")
    page.screenshot(path=screenshot_dir / f"overview-awaiting-{width}.png", full_page=True)

    summary.get_by_role("button", name=re.compile(r"^Cancel Top-up .*")).first.click()
    expect(page).to_have_url(re.compile(r"/billing/$"))
    expect(page.locator("main")).to_contain_text("is cancelled; its payment page can no longer be used")
    expect(page.get_by_test_id("awaiting")).to_contain_text("One payment you started is awaiting payment")
    cancelled = TopUp.objects.get(status=TopUp.Status.CANCELLED)
    assert SandboxCheckout.objects.get(session_id=cancelled.gateway_session_id).status != "open"

    page.goto(f"{live_server.url}/billing/topups/{TopUp.objects.get(status='pending').public_id}/")
    page.get_by_role("button", name="Cancel this top-up").click()
    expect(page.get_by_test_id("status")).to_have_text("Cancelled")
    page.goto(f"{live_server.url}/billing/")
    expect(page.get_by_test_id("awaiting")).to_have_count(0)


@pytest.mark.parametrize("width", WIDTHS)
def test_a_wrong_field_keeps_the_certificate_and_the_corrected_form_submits_it(
    page, live_server, screenshot_dir, tmp_path, width
):
    usd_receiving_account()
    certificate = tmp_path / "bank-certificate.pdf"
    certificate.write_bytes(SAMPLE_PDF)
    page.set_viewport_size(WIDTHS[width])
    sign_in(page, live_server.url, "alice")
    page.goto(f"{live_server.url}/billing/tickets/new/")
    fill_ticket(page, certificate, amount="320,00")  # a comma: refused, digits and a point only
    page.get_by_role("button", name="Submit").click()

    held = page.get_by_test_id("held-certificates")
    expect(held).to_contain_text("bank-certificate.pdf")
    expect(held.get_by_role("checkbox")).to_be_checked()
    expect(page.locator("main")).to_contain_text("you do not need to attach them again")
    page.screenshot(path=screenshot_dir / f"ticket-form-kept-file-{width}.png", full_page=True)

    page.fill("#id_amount", "320.00")
    page.get_by_role("button", name="Submit").click()
    expect(page).to_have_url(re.compile(r"/billing/tickets/BT-\d{4}-\d{6}/$"))
    assert TransferTicket.objects.get().certificates.get().original_name == "bank-certificate.pdf"


@pytest.mark.parametrize("width", WIDTHS)
def test_a_wrong_address_is_a_page_in_the_products_look(page, live_server, screenshot_dir, width):
    page.set_viewport_size(WIDTHS[width])
    sign_in(page, live_server.url, "alice")
    response = page.goto(f"{live_server.url}/billing/no-such-page/")
    assert response.status == 404
    expect(page.get_by_role("heading", name="We could not find that page")).to_be_visible()
    expect(page.get_by_role("link", name="Back to Billing Center")).to_be_visible()
    expect(page.locator("body")).not_to_contain_text("URLconf")
    page.screenshot(path=screenshot_dir / f"not-found-{width}.png", full_page=True)


@pytest.mark.parametrize("width", WIDTHS)
def test_a_transfer_to_an_account_retired_since_can_be_named_on_the_ticket_form(
    page, live_server, screenshot_dir, tmp_path, width
):
    """She paid to the account printed before finance replaced it: inside finance's window it is
    offered (last, marked retired) although no invoice of hers printed it."""
    retired = usd_receiving_account()
    usd_receiving_account()  # finance's new current account retires the first
    certificate = tmp_path / "bank-certificate.pdf"
    certificate.write_bytes(SAMPLE_PDF)
    page.set_viewport_size(WIDTHS[width])
    sign_in(page, live_server.url, "alice")
    page.goto(f"{live_server.url}/billing/tickets/new/")
    options = page.locator("#id_receiving_account option")
    expect(options).to_have_count(2)
    expect(options.last).to_contain_text("…3000 · retired")
    page.select_option("#id_receiving_account", str(retired.pk))
    fill_ticket(page, certificate)
    expect(page.locator("#id_receiving_account")).to_be_visible()
    fits_sideways(page)
    page.screenshot(path=screenshot_dir / f"ticket-form-retired-account-{width}.png", full_page=True)
    page.get_by_role("button", name="Submit").click()
    expect(page).to_have_url(re.compile(r"/billing/tickets/BT-\d{4}-\d{6}/$"))
    assert TransferTicket.objects.get().receiving_account == retired


@pytest.mark.parametrize("width", WIDTHS)
def test_the_alert_history_lists_the_e_mails_sent_with_the_alert_beside_its_sms(
    page, live_server, screenshot_dir, width
):
    account = Account.objects.get(name="Alice's Studio")
    AlertRecipient.objects.create(account=account, kind="sms", address="+8613800138000", confirmed_at=timezone.now())
    add_email_recipient(account_id=account.pk, email="ops@alice.example")
    set_alert(account_id=account.pk, enabled=True, threshold=Decimal("40.00"), actor=None)
    post_ledger_entry(account_id=account.pk, amount=Money("-20.00", "USD"), kind="usage", source_ref="usage:b1")
    check_balance_alert(account_id=account.pk)
    assert BalanceAlert.objects.filter(account=account).count() == 1
    page.set_viewport_size(WIDTHS[width])
    sign_in(page, live_server.url, "alice")
    page.goto(f"{live_server.url}/billing/alerts/")
    delivery = page.get_by_test_id("alert-delivery")
    expect(delivery).to_have_count(1)
    expect(delivery).to_be_visible()
    expect(delivery).to_contain_text("SMS")
    expect(delivery).to_contain_text("+8613800138000")
    expect(delivery).to_contain_text("E-mail")
    expect(delivery).to_contain_text("ops@alice.example")
    fits_sideways(page)
    page.screenshot(path=screenshot_dir / f"alert-history-{width}.png", full_page=True)


@pytest.mark.parametrize("width", WIDTHS)
def test_a_phone_still_tells_a_refund_from_a_usage_charge_on_the_statement(page, live_server, screenshot_dir, width):
    """At 390 px the Type and Description columns are hidden: rows had read only '-18.60 USD' beside a date.
    A phone shows both under the date; a desktop shows them in their columns, once."""
    account = Account.objects.get(users__username="alice")
    post_ledger_entry(
        account_id=account.pk, amount=Money("-18.60", "USD"), kind="usage", source_ref="phone:1", description="vm"
    )
    page.set_viewport_size(WIDTHS[width])
    sign_in(page, live_server.url, "alice")
    page.goto(f"{live_server.url}/billing/statement/")
    row = page.locator("table.data tbody tr").first
    visible = row.inner_text()
    assert "Usage charge" in visible and "vm" in visible
    assert visible.count("Usage charge") == 1  # never twice on a desktop
    fits_sideways(page)
    page.screenshot(path=str(screenshot_dir / f"statement-row-{width}.png"), full_page=True)


def test_on_a_phone_in_chinese_every_overview_button_is_a_fingers_height_and_whole(page, live_server, screenshot_dir):
    """Buttons had been 28 px high, and "删除" (remove) had broken to a character a line in its table cell."""
    account = Account.objects.get(name="Alice's Studio")
    AlertRecipient.objects.create(account=account, kind="sms", address="+8613800138000", confirmed_at=timezone.now())
    page.set_extra_http_headers({"Accept-Language": "zh-hans"})
    page.set_viewport_size(WIDTHS["phone"])
    sign_in(page, live_server.url, "alice")
    page.goto(f"{live_server.url}/billing/")
    buttons = page.locator("main .btn:visible")
    assert buttons.count() > 3
    for i in range(buttons.count()):
        box, text = buttons.nth(i).bounding_box(), buttons.nth(i).inner_text()
        assert box["height"] >= 44, (text, box)
    remove = page.get_by_role("button", name=re.compile("删除"))
    lines = "(b) => { const r = document.createRange(); r.selectNodeContents(b); return r.getClientRects().length; }"
    assert remove.first.evaluate(lines) == 1, "删除 wraps"
    fits_sideways(page)
    page.screenshot(path=screenshot_dir / "overview-zh-phone-buttons.png", full_page=True)
