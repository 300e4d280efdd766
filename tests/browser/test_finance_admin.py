"""Finance's admin as a clerk sees it in headless Chromium: the queue fits a 1280 px screen with every
badge whole, the home page counts what needs doing, and an action on a ticket comes back to it."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group, Permission
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice
from djmoney.money import Money
from playwright.sync_api import expect

from accounts.models import OutboundSms
from tests.browser.test_topup_flow import PASSWORD, quiet_page, site_url  # noqa: F401 (fixtures)
from tests.factories import PendingTopUpFactory, PrepaidAccountFactory, UserFactory
from tests.helpers import a_finance_zone_before_its_midnight, current_otp
from tests.tickets.conftest import FINANCE_CODENAMES, make_ticket, pdf_bytes, upload, usd_receiving_account
from tickets.models import TransferTicket
from tickets.review import confirm_and_credit

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
WIDE = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


def clerk(username: str, group: Group):
    user = UserFactory(username=username, first_name=username.title(), account=None, is_staff=True)
    user.groups.add(group)
    TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    return user


@pytest.fixture
def desk(settings):
    """A morning's queue: long names, a duplicate pair, a proposal waiting for its checker, one
    ticket overdue and one due today; a flagged top-up and a failed SMS."""
    group, _ = Group.objects.get_or_create(name=settings.FINANCE_GROUP)
    group.permissions.set(Permission.objects.filter(codename__in=FINANCE_CODENAMES))
    fiona, frank = clerk("finance", group), clerk("finance2", group)
    bank = usd_receiving_account()
    customers = [
        UserFactory(username=f"customer{n}", account=PrepaidAccountFactory(name=name))
        for n, name in enumerate(
            ["Alice's Studio", "Northwind Cloud Infrastructure Services (Shenzhen) Co., Ltd.", "Dave's Enterprise"]
        )
    ]
    now = timezone.now()
    settings.FINANCE_TIME_ZONE = a_finance_zone_before_its_midnight(now)  # the ticket due in 30 minutes: today

    def certificate():  # each its own file: only the same bank reference makes a duplicate here
        return [upload("certificate.pdf", pdf_bytes(f"Transfer {len(tickets)}"))]

    tickets = []
    for customer, reference, extra in [
        (customers[0], "FT26112000042", {"amount": Money("320.00", "USD")}),
        (customers[1], "FT26112000042", {"payer_name": "Northwind Cloud Finance Dept."}),
        (customers[2], "HSBC-20261120-99881", {"amount": Money("125000.00", "USD")}),
        (customers[0], "FT26112100007", {"amount": Money("45.50", "USD")}),
    ]:
        tickets.append(make_ticket(customer, bank, bank_reference=reference, files=certificate(), **extra))
    TransferTicket.objects.filter(pk=tickets[0].pk).update(due_at=now - timedelta(hours=3))
    TransferTicket.objects.filter(pk=tickets[3].pk).update(due_at=now + timedelta(minutes=30))
    settings.TICKET_SECOND_APPROVAL_ABOVE = {"USD": Decimal("10000")}
    confirm_and_credit(
        ticket_id=tickets[2].pk, actor=fiona, received=Money("125000.00", "USD"), bank_reference="STMT-1120-4"
    )
    note = "2026-11-20 09:14 checkout.session.completed evt_1NqY: paid 95.00 USD, the top-up was for 100.00 USD"
    flagged = PendingTopUpFactory(account=customers[0].account, needs_review=True, review_note=note)
    OutboundSms.objects.create(dedupe_key="alert:1", status="failed", to="+8613800138000", text="Low balance")
    return {"fiona": fiona, "frank": frank, "tickets": tickets, "flagged": flagged}


def admin_sign_in(page, base_url, user):
    page.goto(f"{base_url}/admin/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.fill("#id_otp_token", current_otp(TOTPDevice.objects.get(user=user)))
    page.click("input[type=submit]")
    expect(page).to_have_url(re.compile(r"/admin/$"))


def confirm_on_its_page(page, base_url, ticket, amount: str, reference: str, currency: str = "") -> None:
    """The ticket page's Confirm and credit: what arrived, typed from our statement, then Yes."""
    page.goto(f"{base_url}/admin/tickets/transferticket/{ticket.pk}/change/")
    page.get_by_test_id("action-confirm_and_credit").click()
    page.fill(f"#id_t{ticket.pk}-received_amount", amount)
    if currency:
        page.select_option(f"#id_t{ticket.pk}-received_currency", currency)
    page.fill(f"#id_t{ticket.pk}-bank_reference", reference)
    page.get_by_test_id("confirm-action").click()


def visible_right(page) -> float:
    """Where the results stop being visible: the viewport, or the scroll box admin wraps them in."""
    return page.evaluate(
        "() => Math.min(window.innerWidth, document.querySelector('#result_list').parentElement"
        ".getBoundingClientRect().right)"
    )


def fits_the_screen(page) -> None:
    """Nothing scrolls sideways: not the page, not the box around the table; the table ends inside both."""
    width = page.evaluate("() => window.innerWidth")
    assert page.evaluate("() => document.documentElement.scrollWidth") <= width
    box = page.evaluate(
        "() => { const b = document.querySelector('#result_list').parentElement;"
        " return [b.scrollWidth, b.clientWidth]; }"
    )
    assert box[0] <= box[1], f"the results scroll sideways: {box[0]} px in a {box[1]} px box"
    assert page.evaluate("() => document.querySelector('#result_list').getBoundingClientRect().right") <= visible_right(
        page
    )


def test_the_queue_fits_1280_px_with_every_badge_whole(page, live_server, desk, screenshot_dir):
    page.set_viewport_size(WIDE)
    admin_sign_in(page, live_server.url, desk["frank"])
    page.goto(f"{live_server.url}/admin/tickets/transferticket/")
    expect(page.locator("#result_list tbody tr")).to_have_count(4)
    fits_the_screen(page)
    headers = page.locator("#result_list thead th")
    right = visible_right(page)
    for i in range(headers.count()):
        box = headers.nth(i).bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= right, headers.nth(i).inner_text()
    duplicates = page.get_by_test_id("duplicate-flag")
    expect(duplicates).to_have_count(2)
    for i in range(2):
        badge = duplicates.nth(i)
        expect(badge).to_be_visible()
        expect(badge).to_have_text("⚠ Possible duplicate")
        # Whole: not cut by its own box, and inside its cell and the screen.
        assert badge.evaluate("b => b.scrollWidth <= b.clientWidth")
        cell = badge.evaluate("b => { const c = b.closest('td').getBoundingClientRect(); return c.right; }")
        box = badge.bounding_box()
        assert box["x"] + box["width"] <= min(cell, right)
    expect(page.locator("#result_list")).to_contain_text("Awaiting second approval")
    expect(page.locator("#result_list")).to_contain_text("Overdue")
    expect(page.locator("#result_list")).to_contain_text("Due today")
    expect(page.locator("#result_list")).to_contain_text("125,000.00 USD")
    page.screenshot(path=screenshot_dir / "admin-queue.png", full_page=True)
    page.set_viewport_size(PHONE)  # a card per ticket
    fits_the_screen(page)
    expect(page.get_by_test_id("duplicate-flag").first).to_be_in_viewport()
    page.screenshot(path=screenshot_dir / "admin-queue-phone.png", full_page=True)


def test_the_admin_home_counts_what_needs_doing_and_each_count_opens_its_list(page, live_server, desk, screenshot_dir):
    page.set_viewport_size(WIDE)
    admin_sign_in(page, live_server.url, desk["fiona"])
    todo = page.get_by_test_id("todo")
    expect(todo).to_be_visible()
    expected = {
        "overdue": "1 Overdue tickets",
        "due-today": "1 Tickets due today",
        "awaiting-approval": "1 Awaiting second approval",
        "flagged-topups": "1 Flagged top-ups",
        "open-disputes": "0 Open disputes",
        "failed-sms": "1 Failed SMS, last 7 days",
    }
    for key, text in expected.items():
        expect(page.get_by_test_id(f"todo-{key}")).to_have_text(text)
    # The counts come before the list of apps.
    assert todo.bounding_box()["y"] < page.locator("#content-main .app-tickets").bounding_box()["y"]
    page.screenshot(path=screenshot_dir / "admin-home.png", full_page=True)
    page.set_viewport_size(PHONE)  # every count whole and readable on a phone, nothing sideways
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    for key, text in expected.items():
        count = page.get_by_test_id(f"todo-{key}")
        expect(count).to_have_text(text)
        box = count.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], f"{key} is cut at 390 px"
    assert todo.bounding_box()["y"] < page.locator("#content-main .app-tickets").bounding_box()["y"]
    page.screenshot(path=screenshot_dir / "admin-home-phone.png", full_page=True)
    page.set_viewport_size(WIDE)

    page.get_by_test_id("todo-overdue").click()
    expect(page).to_have_url(re.compile(r"/admin/tickets/transferticket/\?due=overdue$"))
    expect(page.locator("#result_list tbody tr")).to_have_count(1)
    expect(page.locator("#result_list")).to_contain_text(desk["tickets"][0].number)
    page.goto(f"{live_server.url}/admin/")
    page.get_by_test_id("todo-failed-sms").click()
    expect(page.locator("#result_list tbody tr")).to_have_count(1)
    expect(page.locator("#result_list")).to_contain_text("Failed")


def test_an_action_on_the_ticket_page_comes_back_to_the_ticket_with_its_message(
    page, live_server, desk, screenshot_dir
):
    ticket = desk["tickets"][3]
    page.set_viewport_size(WIDE)
    admin_sign_in(page, live_server.url, desk["fiona"])
    page.goto(f"{live_server.url}/admin/tickets/transferticket/{ticket.pk}/change/")
    expect(page.get_by_test_id("ticket-status")).to_have_text("Submitted")
    page.get_by_test_id("action-request_information").click()
    expect(page.get_by_test_id("action-confirmation")).to_contain_text(ticket.number)
    expect(page.get_by_test_id("ticket-status")).to_have_text("Submitted")
    page.fill("#id_reason", "Please send the page of the statement with the transfer on it.")
    page.get_by_test_id("confirm-action").click()
    expect(page).to_have_url(re.compile(rf"/admin/tickets/transferticket/{ticket.pk}/change/$"))
    expect(page.locator(".messagelist")).to_contain_text(f"{ticket.number}: asked the customer for more information")
    expect(page.get_by_test_id("ticket-status")).to_have_text("More information needed")
    page.screenshot(path=screenshot_dir / "admin-ticket-after-action.png", full_page=True)


def test_the_checker_sends_a_proposal_back_and_the_maker_is_asked_about_an_amount_not_declared(
    page, live_server, desk, screenshot_dir
):
    ticket = desk["tickets"][2]  # 125,000.00 USD declared, proposed by fiona
    page.set_viewport_size(WIDE)
    admin_sign_in(page, live_server.url, desk["frank"])
    page.goto(f"{live_server.url}/admin/tickets/transferticket/{ticket.pk}/change/")
    expect(page.get_by_test_id("action-approve_credit")).to_be_visible()
    page.get_by_test_id("action-withdraw_proposal").click()
    expect(page.get_by_test_id("action-confirmation")).to_contain_text("proposed crediting 125,000.00 USD")
    page.screenshot(path=screenshot_dir / "admin-withdraw-proposal.png", full_page=True)
    page.get_by_test_id("confirm-action").click()
    expect(page).to_have_url(re.compile(rf"/admin/tickets/transferticket/{ticket.pk}/change/$"))
    expect(page.locator(".messagelist")).to_contain_text(f"{ticket.number}: proposal withdrawn")
    expect(page.get_by_test_id("ticket-status")).to_have_text("Under review")
    page.context.clear_cookies()

    admin_sign_in(page, live_server.url, desk["fiona"])
    confirm_on_its_page(page, live_server.url, ticket, "12500.00", "STMT-1120-4")  # a zero short
    expect(page.get_by_test_id("action-confirmation")).to_contain_text(
        "This is not the 125,000.00 USD the customer declared."
    )
    page.screenshot(path=screenshot_dir / "admin-amount-not-declared.png", full_page=True)
    page.fill(f"#id_t{ticket.pk}-received_amount", "125000.00")  # corrected: nothing left to tick
    page.get_by_test_id("confirm-action").click()
    expect(page.locator(".messagelist")).to_contain_text("proposal of 125,000.00 USD awaits a second approver")


def test_retired_accounts_rates_and_history_read_as_finance_expects(page, live_server, desk, screenshot_dir):
    from djmoney.contrib.exchange.models import ExchangeBackend, Rate

    from tickets.deadlines import flag_ticket_deadlines
    from tickets.models import ReceivingAccount

    retired = ReceivingAccount.objects.get()
    usd_receiving_account()  # a new current account retires the old one
    sheet = ExchangeBackend.objects.create(name="finance", base_currency="USD")
    Rate.objects.create(backend=sheet, currency="CNY", value=Decimal("7.1"))
    ticket = desk["tickets"][1]
    flag_ticket_deadlines(now=ticket.due_at + timedelta(hours=1))  # the scheduler: no person
    page.set_viewport_size(WIDE)
    admin_sign_in(page, live_server.url, desk["fiona"])

    page.goto(f"{live_server.url}/admin/tickets/receivingaccount/{retired.pk}/change/")
    expect(page.locator("#content")).to_contain_text("Commerzbank AG")
    expect(page.locator("input[type=submit]")).to_have_count(0)  # no Save, Save and continue, Save and add
    page.screenshot(path=screenshot_dir / "admin-retired-account.png", full_page=True)

    page.goto(f"{live_server.url}/admin/topups/ratesheet/finance/change/")
    expect(page.locator("#rates-group")).to_contain_text("1 USD = 7.1000 CNY")
    expect(page.locator("#content")).not_to_contain_text("Rate object")
    page.screenshot(path=screenshot_dir / "admin-rate-sheet.png", full_page=True)

    page.goto(f"{live_server.url}/admin/tickets/transferticket/{ticket.pk}/history/")
    expect(page.get_by_test_id("no-person")).to_have_text("system")
    expect(page.locator("#change-history")).not_to_contain_text("Deleted user")
    page.screenshot(path=screenshot_dir / "admin-ticket-history.png", full_page=True)


def test_a_transfer_in_another_currency_shows_its_credit_before_it_is_credited(page, live_server, desk, screenshot_dir):
    from djmoney.contrib.exchange.models import ExchangeBackend, Rate

    sheet = ExchangeBackend.objects.create(name="finance", base_currency="USD")
    Rate.objects.create(backend=sheet, currency="CNY", value=Decimal("7.1"))
    ticket = desk["tickets"][3]  # 45.50 USD declared; the customer's bank sent yuan
    page.set_viewport_size(WIDE)
    admin_sign_in(page, live_server.url, desk["fiona"])
    confirm_on_its_page(page, live_server.url, ticket, "323.05", "STMT-1121-7", currency="CNY")
    expect(page.get_by_test_id("action-confirmation")).to_contain_text("This credits 45.50 USD at 1 USD = 7.1000 CNY")
    page.screenshot(path=screenshot_dir / "admin-converted-credit.png", full_page=True)
    expect(page.get_by_test_id("action-confirmation")).to_contain_text(
        "This is not the 45.50 USD the customer declared."
    )
    page.get_by_label(re.compile("I checked the amount against our statement")).check()  # yuan arrived, not dollars
    page.get_by_label(re.compile(r"1 USD = 7.1000 CNY .*I checked it")).check()
    page.get_by_test_id("confirm-action").click()
    expect(page.locator(".messagelist")).to_contain_text("credited 45.50 USD")
    ticket.refresh_from_db()
    assert ticket.credit_amount == Money("45.50", "USD") and ticket.received_amount == Money("323.05", "CNY")


def test_a_flagged_top_up_is_read_then_marked_reviewed_and_leaves_the_count(page, live_server, desk, screenshot_dir):
    flagged = desk["flagged"]
    page.set_viewport_size(WIDE)
    admin_sign_in(page, live_server.url, desk["fiona"])
    page.get_by_test_id("todo-flagged-topups").click()
    expect(page.locator("#result_list tbody tr")).to_have_count(1)
    page.locator("#result_list input.action-select").first.check()
    page.select_option("select[name=action]", "mark_reviewed")
    page.click("button[name=index]")
    record = page.get_by_test_id("flagged-record")
    expect(record).to_contain_text(flagged.reference)
    expect(record).to_contain_text("paid 95.00 USD, the top-up was for 100.00 USD")
    page.screenshot(path=screenshot_dir / "admin-mark-reviewed.png", full_page=True)
    page.get_by_test_id("confirm-action").click()
    expect(page.locator(".messagelist")).to_contain_text(f"Marked as reviewed: {flagged.reference}.")
    page.goto(f"{live_server.url}/admin/")
    expect(page.get_by_test_id("todo-flagged-topups")).to_have_text("0 Flagged top-ups")
    page.goto(f"{live_server.url}/admin/topups/topup/{flagged.pk}/history/")
    expect(page.locator("#change-history")).to_contain_text("Changed needs review.")
    expect(page.locator("#change-history")).to_contain_text("finance")


def test_the_clerks_actions_are_listed_on_the_home_page_and_on_the_tickets_history(
    page, live_server, desk, screenshot_dir
):
    """Admin's own audit trail (billing_center.admin_log): Recent actions says what was done, History who and when."""
    credited, asked = desk["tickets"][3], desk["tickets"][1]
    page.set_viewport_size(WIDE)
    admin_sign_in(page, live_server.url, desk["fiona"])
    confirm_on_its_page(page, live_server.url, credited, "45.50", "STMT-1121-7")
    expect(page.locator(".messagelist")).to_contain_text("credited 45.50 USD")
    page.goto(f"{live_server.url}/admin/tickets/transferticket/{asked.pk}/change/")
    page.get_by_test_id("action-request_information").click()
    page.fill("#id_reason", "Please send the bank's certificate with the payer's name on it.")
    page.get_by_test_id("confirm-action").click()
    expect(page.locator(".messagelist")).to_contain_text("asked the customer for more information")

    page.goto(f"{live_server.url}/admin/")
    recent = page.get_by_test_id("recent-actions").locator("li")
    expect(recent).to_have_count(2)
    expect(recent.nth(0)).to_contain_text(asked.number)
    expect(recent.nth(0)).to_contain_text("Asked the customer for more information: Please send the bank's certificate")
    expect(recent.nth(1)).to_contain_text(credited.number)
    expect(recent.nth(1)).to_contain_text("Confirmed and credited 45.50 USD")
    page.screenshot(path=screenshot_dir / "admin-recent-actions.png", full_page=True)

    recent.nth(1).get_by_role("link").click()
    expect(page).to_have_url(re.compile(rf"/admin/tickets/transferticket/{credited.pk}/change/$"))
    page.goto(f"{live_server.url}/admin/tickets/transferticket/{credited.pk}/history/")
    row = page.get_by_test_id("change-log").locator("tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("finance (Finance)")
    expect(row).to_contain_text("Confirmed and credited 45.50 USD")
    page.screenshot(path=screenshot_dir / "admin-ticket-actions-history.png", full_page=True)


def test_a_clerk_switches_the_sign_in_page_to_chinese_and_a_refused_code_leaves_both_secrets_empty(
    page, live_server, screenshot_dir, settings
):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0  # django-otp's: the right code is checked at once after a wrong one
    group, _ = Group.objects.get_or_create(name=settings.FINANCE_GROUP)
    fiona = clerk("finance", group)
    page.set_viewport_size(WIDE)
    page.goto(f"{live_server.url}/admin/tickets/transferticket/")  # signed out: sent to sign in, then here
    expect(page).to_have_url(re.compile(r"/admin/login/\?next=/admin/tickets/transferticket/$"))
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.screenshot(path=screenshot_dir / "admin-login-en-wide.png")
    with page.expect_navigation():
        page.get_by_test_id("language-switch").get_by_role("button", name="简体中文").click()
    expect(page).to_have_url(re.compile(r"/admin/login/\?next=/admin/tickets/transferticket/$"))
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    expect(page.locator("label[for=id_otp_token]")).to_have_text("身份验证器应用中的验证码：")
    expect(page.get_by_test_id("language-switch").get_by_role("button")).to_have_text("English")

    code = current_otp(TOTPDevice.objects.get(user=fiona))
    page.fill("#id_username", "finance")
    page.fill("#id_password", PASSWORD)
    page.fill("#id_otp_token", f"{(int(code) + 1) % 1_000_000:06d}")
    with page.expect_navigation():
        page.click("input[type=submit]")
    expect(page.locator(".errornote")).to_contain_text("验证码不是当前的")
    expect(page.locator("#id_otp_token")).to_have_value("")
    expect(page.locator("#id_password")).to_have_value("")
    page.screenshot(path=screenshot_dir / "admin-login-zh-refused-wide.png")
    page.set_viewport_size(PHONE)
    page.screenshot(path=screenshot_dir / "admin-login-zh-refused-phone.png")

    page.fill("#id_password", PASSWORD)
    page.fill("#id_otp_token", code)
    with page.expect_navigation():
        page.click("input[type=submit]")
    expect(page).to_have_url(re.compile(r"/admin/tickets/transferticket/$"))  # where the clerk was going
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
