"""Bank transfer, both sides, in real headless Chromium: alice files a Transfer Ticket with
her bank's certificate; finance confirms and credits it in Django admin; alice sees it."""

import re

import pytest
from django.conf import settings
from django.contrib.auth.models import Group, Permission
from django_otp.plugins.otp_totp.models import TOTPDevice
from djmoney.money import Money
from playwright.sync_api import expect

from accounts.ledger import post_ledger_entry
from accounts.models import LedgerEntry
from tests.browser.test_topup_flow import PASSWORD, quiet_page, sign_in, site_url  # noqa: F401 (fixtures)
from tests.factories import PrepaidAccountFactory, UserFactory
from tests.helpers import current_otp
from tests.tickets.conftest import FINANCE_CODENAMES, SAMPLE_PDF, usd_receiving_account
from tickets.models import Invoice, TransferTicket
from tickets.receiving_accounts import issue_invoice

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def people():
    account = PrepaidAccountFactory(name="Alice's Studio")
    post_ledger_entry(account_id=account.pk, amount=Money("50.00", "USD"), kind="adjustment", source_ref="seed:a")
    alice = UserFactory(username="alice", first_name="Alice", email="alice@example.com", account=account)
    group, _ = Group.objects.get_or_create(name=settings.FINANCE_GROUP)
    group.permissions.set(Permission.objects.filter(codename__in=FINANCE_CODENAMES))
    finance = UserFactory(username="finance", first_name="Fiona", account=None, is_staff=True)
    finance.groups.add(group)
    TOTPDevice.objects.create(user=finance, name="phone", confirmed=True)
    bank = usd_receiving_account()
    invoice = issue_invoice(invoice=Invoice(account=account, amount=Money("320.00", "USD"), description="October"))
    return alice, finance, bank, invoice


def test_alice_files_a_transfer_ticket_and_finance_credits_it(page, live_server, people, screenshot_dir, tmp_path):
    alice, finance, bank, invoice = people
    certificate = tmp_path / "bank-certificate.pdf"
    certificate.write_bytes(SAMPLE_PDF)
    page.set_viewport_size({"width": 1280, "height": 900})

    sign_in(page, live_server.url, "alice")
    page.get_by_role("link", name="Pay", exact=True).click()
    page.get_by_test_id("method-bank").click()
    expect(page).to_have_url(re.compile(r"/billing/pay/bank-transfer/$"))
    expect(page.get_by_test_id("receiving-account")).to_contain_text("DE89 3704 0044 0532 0130 00")
    expect(page.get_by_test_id("payment-reference")).to_contain_text("RF")
    expect(page.locator("figure.qr svg")).to_be_visible()
    expect(page.get_by_test_id("qr-caption")).to_contain_text("Scan with your banking app")
    page.screenshot(path=screenshot_dir / "bank-transfer.png", full_page=True)

    page.get_by_test_id("transfer-ticket").click()
    expect(page.get_by_role("heading", name="Create Service Ticket")).to_be_visible()
    expect(page.get_by_test_id("recorded-under")).to_contain_text("Alice's Studio")
    page.fill("#id_amount", "320.00")
    page.fill("#id_transfer_date", "2026-11-20")
    page.fill("#id_bank_reference", "FT26112000042")
    page.fill("#id_invoice_number", invoice.number)
    page.fill("#id_payer_name", "Alice Example")
    page.fill("#id_payer_bank", "Example Savings Bank")
    page.fill("#id_payer_account", "00112233")
    page.fill("#id_problem_description", "Paid from my personal account.")
    page.set_input_files("#id_certificates", str(certificate))
    page.screenshot(path=screenshot_dir / "ticket-form.png", full_page=True)
    page.get_by_role("button", name="Submit").click()

    expect(page).to_have_url(re.compile(r"/billing/tickets/BT-\d{4}-\d{6}/$"))
    expect(page.get_by_test_id("ticket-status")).to_have_text("Submitted")
    expect(page.get_by_test_id("timeline")).to_contain_text("expected by")
    ticket = TransferTicket.objects.get()
    page.screenshot(path=screenshot_dir / "ticket-submitted.png", full_page=True)
    page.get_by_role("button", name="Sign out").click()

    # Finance, in Django admin.
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "finance")
    page.fill("#id_password", PASSWORD)
    page.fill("#id_otp_token", current_otp(TOTPDevice.objects.get(user=finance)))  # her authenticator app
    page.click("input[type=submit]")
    expect(page).to_have_url(re.compile(r"/admin/$"))
    page.goto(f"{live_server.url}/admin/tickets/transferticket/")
    expect(page.locator("#result_list")).to_contain_text(ticket.number)
    page.screenshot(path=screenshot_dir / "admin-queue-one-ticket.png", full_page=True)
    page.get_by_role("link", name=ticket.number).click()
    expect(page.get_by_test_id("review-panel")).to_contain_text("320.00 USD")
    expect(page.get_by_test_id("admin-certificate")).to_be_visible()
    page.screenshot(path=screenshot_dir / "admin-ticket.png", full_page=True)
    page.get_by_test_id("action-confirm_and_credit").click()
    expect(page.get_by_test_id("action-confirmation")).to_contain_text(ticket.number)
    page.fill(f"#id_t{ticket.pk}-received_amount", "320.00")
    page.fill(f"#id_t{ticket.pk}-bank_reference", "STMT-2026-11-21-7")
    page.screenshot(path=screenshot_dir / "admin-confirm.png", full_page=True)
    page.get_by_test_id("confirm-action").click()
    expect(page.locator(".messagelist")).to_contain_text("credited 320.00 USD")
    page.context.clear_cookies()

    # Alice sees the credit.
    sign_in(page, live_server.url, "alice")
    expect(page.get_by_test_id("balance")).to_contain_text("370.00")
    page.goto(f"{live_server.url}/billing/tickets/{ticket.number}/")
    expect(page.get_by_test_id("ticket-status")).to_have_text("Credited")
    expect(page.get_by_test_id("outcome")).to_contain_text("320.00 USD was credited")
    page.screenshot(path=screenshot_dir / "ticket-credited.png", full_page=True)
    assert LedgerEntry.objects.filter(kind="bank_transfer").count() == 1

    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=screenshot_dir / "ticket-credited-phone.png", full_page=True)
    page.goto(f"{live_server.url}/billing/pay/bank-transfer/")
    page.screenshot(path=screenshot_dir / "bank-transfer-phone.png", full_page=True)
