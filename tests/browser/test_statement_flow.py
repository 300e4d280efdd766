"""Bank statements in real headless Chromium: finance uploads a camt.053 in admin; the line with
alice's payment reference is credited at once and she sees it on her Overview; the unmatched
line is assigned to her account by hand and confirmed."""

import pytest
from playwright.sync_api import expect

from accounts.models import LedgerEntry
from tests.browser.test_bank_transfer_flow import people  # noqa: F401 (fixture)
from tests.browser.test_finance_admin import admin_sign_in
from tests.browser.test_topup_flow import PASSWORD, quiet_page, sign_in, site_url  # noqa: F401 (fixtures)
from tests.tickets.statement_files import Entry, camt053
from tickets.models import StatementLine
from tickets.references import formatted, payment_reference

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_finance_uploads_a_statement_one_line_is_credited_and_one_assigned_by_hand(
    page,
    live_server,
    people,  # noqa: F811  (the fixture imported above)
    screenshot_dir,
    tmp_path,
    settings,
):
    settings.STATEMENT_AUTO_CREDIT = True
    alice, finance, bank, _ = people
    rf = formatted(payment_reference(alice.account_id)).lower()
    statement = tmp_path / "camt053.xml"
    statement.write_bytes(
        camt053(
            [
                Entry("120.00", "BK-20261201-1", remittance=f"top-up {rf}"),
                Entry("45.00", "BK-20261201-2", payer="A. Example Trading", remittance="for my cloud account"),
                Entry("-3.50", "FEE-1", payer="Bank fee"),
            ]
        )
    )
    page.set_viewport_size({"width": 1280, "height": 900})
    admin_sign_in(page, live_server.url, finance)  # password and her authenticator app's code

    page.goto(f"{live_server.url}/admin/tickets/statementfile/add/")
    page.select_option("#id_receiving_account", str(bank.pk))
    page.set_input_files("#id_file", str(statement))
    page.screenshot(path=screenshot_dir / "statement-upload.png", full_page=True)
    page.get_by_test_id("import-statement").click()
    expect(page.locator(".messagelist")).to_contain_text("Imported 3 lines (3 new): 1 credited, 1 unmatched")
    expect(page.get_by_test_id("statement-totals")).to_contain_text("unmatched lines 1")
    expect(page.locator("#result_list")).to_contain_text("Credited")
    expect(page.locator("#result_list")).to_contain_text("Debit (listed only)")
    page.screenshot(path=screenshot_dir / "statement-lines.png", full_page=True)

    page.goto(f"{live_server.url}/admin/")
    expect(page.get_by_test_id("todo-unmatched-lines")).to_contain_text("1")
    page.get_by_test_id("todo-unmatched-lines").click()
    unmatched = StatementLine.objects.get(state="unmatched")
    expect(page.locator("#result_list")).to_contain_text("BK-20261201-2")
    page.check(f'input[name="_selected_action"][value="{unmatched.pk}"]')
    page.select_option("select[name=action]", "assign_to_account")
    page.click("button[name=index]")
    expect(page.get_by_test_id("action-confirmation")).to_contain_text("A. Example Trading")
    page.fill("#id_account_id", str(alice.account_id))
    page.screenshot(path=screenshot_dir / "statement-assign.png", full_page=True)
    page.get_by_test_id("confirm-action").click()
    expect(page.locator(".messagelist")).to_contain_text("assigned to Alice's Studio")

    page.goto(f"{live_server.url}/admin/tickets/statementline/?state__exact=matched")
    page.check(f'input[name="_selected_action"][value="{unmatched.pk}"]')
    page.select_option("select[name=action]", "confirm_lines")
    page.click("button[name=index]")
    page.get_by_test_id("confirm-action").click()
    expect(page.locator(".messagelist")).to_contain_text("credited 45.00 USD")
    page.context.clear_cookies()

    # Alice filed no ticket: both transfers are on her Overview and in her records.
    sign_in(page, live_server.url, "alice")
    expect(page.get_by_test_id("balance")).to_contain_text("215.00")
    page.screenshot(path=screenshot_dir / "statement-overview.png", full_page=True)
    page.goto(f"{live_server.url}/billing/topups/")
    expect(page.locator("body")).to_contain_text("BK-20261201-1")
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=screenshot_dir / "statement-records-phone.png", full_page=True)
    page.goto(f"{live_server.url}/billing/pay/bank-transfer/")
    expect(page.get_by_test_id("no-ticket-needed")).to_contain_text("You need no ticket")
    page.screenshot(path=screenshot_dir / "statement-bank-transfer-phone.png", full_page=True)
    assert LedgerEntry.objects.filter(kind="bank_transfer").count() == 2


def test_finance_sets_aside_a_transfer_in_another_currency_and_the_to_do_list_empties(
    page,
    live_server,
    people,  # noqa: F811  (the fixture imported above)
    screenshot_dir,
    tmp_path,
):
    _, finance, bank, _ = people
    statement = tmp_path / "camt053.xml"
    statement.write_bytes(camt053([Entry("80.00", "BK-EUR-1", payer="Jean Dupont", currency="EUR")]))
    page.set_viewport_size({"width": 1280, "height": 900})
    admin_sign_in(page, live_server.url, finance)
    page.goto(f"{live_server.url}/admin/tickets/statementfile/add/")
    page.select_option("#id_receiving_account", str(bank.pk))
    page.set_input_files("#id_file", str(statement))
    page.get_by_test_id("import-statement").click()

    page.goto(f"{live_server.url}/admin/")
    expect(page.get_by_test_id("todo-other-currency-lines")).to_contain_text("1")
    page.get_by_test_id("todo-other-currency-lines").click()
    line = StatementLine.objects.get()
    expect(page.locator("#result_list")).to_contain_text("Other currency, to return or set aside")
    page.check(f'input[name="_selected_action"][value="{line.pk}"]')
    page.select_option("select[name=action]", "set_aside")
    page.click("button[name=index]")
    expect(page.get_by_test_id("action-confirmation")).to_contain_text("Jean Dupont")
    page.get_by_label("Returned to the payer").check()
    page.fill("#id_note", "EUR cannot be held on this account; returned 3 Dec, our ref RT-12")
    page.screenshot(path=screenshot_dir / "statement-set-aside.png", full_page=True)
    page.get_by_test_id("confirm-action").click()
    expect(page.locator(".messagelist")).to_contain_text("BK-EUR-1: set aside: returned to the payer")

    page.goto(f"{live_server.url}/admin/")
    expect(page.get_by_test_id("todo-other-currency-lines")).to_contain_text("0")
    page.goto(f"{live_server.url}/admin/tickets/statementline/{line.pk}/change/")
    expect(page.locator("body")).to_contain_text("returned 3 Dec, our ref RT-12")
    page.screenshot(path=screenshot_dir / "statement-line-set-aside.png", full_page=True)
    line.refresh_from_db()
    assert line.state == "set_aside" and line.set_aside_by == finance
