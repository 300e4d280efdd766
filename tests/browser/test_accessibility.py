"""axe-core (WCAG 2.1 AA and best practice) in Chromium on every page a customer or finance sees.

One test per person: alice (prepaid), bob (postpaid), carol (enterprise member), a visitor who
is not signed in, and finance on our own admin templates. Each visits its list of pages once,
runs axe at 1280 px and again at 390 px, saves a screenshot of each, and fails on any critical
or serious violation, listing every one with the page, the width and the element.
"""

import re
from dataclasses import dataclass
from decimal import Decimal
from io import StringIO

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.conf import settings
from django.core.management import call_command
from django_otp.plugins.otp_totp.models import TOTPDevice
from djmoney.money import Money
from playwright.sync_api import expect

from accounts.alerts import check_balance_alert
from accounts.ledger import post_ledger_entry
from accounts.models import Account, User
from tests.browser.test_topup_flow import quiet_page, site_url  # noqa: F401 (fixtures)
from tests.helpers import current_otp
from tests.tickets.conftest import make_ticket
from tickets.models import Invoice, ReceivingAccount
from tickets.review import request_information
from topups.checkout import start_online_topup
from topups.gateways.sandbox import complete_checkout
from topups.models import SandboxCheckout
from topups.reconcile import reconcile_topup

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTHS = (1280, 390)
FAILING_IMPACTS = ("critical", "serious")
AXE = Axe()


@dataclass(frozen=True)
class Visit:
    name: str
    path: str  # may name the demo's objects: {pending}, {credited}, {ticket}, {ticket_pk}, {invoice}, ...
    then: object = None  # steps on the page before the audit: then(page, objects)
    status: int = 200


def submit_with(fields: dict[str, str], button: str, files: dict[str, bytes] | None = None):
    """Fill a form wrongly and send it, to audit the page with its errors."""

    def steps(page, objects):
        for selector, value in fields.items():
            page.fill(selector, value)
        for selector, content in (files or {}).items():
            upload = {"name": "slip.pdf", "mimeType": "application/pdf", "buffer": content}
            page.set_input_files(selector, files=[upload])
        with page.expect_navigation():
            page.get_by_role("button", name=button, exact=True).click()
        expect(page.locator("[aria-invalid=true], .alert-error").first).to_be_visible()

    return steps


def click_test_id(test_id: str):
    def steps(page, objects):
        with page.expect_navigation():
            page.get_by_test_id(test_id).click()

    return steps


def follow_link(name: str):
    """A link of the page (its pagination's "Older"), to audit the page it leads to."""

    def steps(page, objects):
        with page.expect_navigation():
            page.get_by_role("link", name=name).click()

    return steps


def choose_admin_action(action: str, object_key: str):
    """On a change list: tick one row, choose the action, Go."""

    def steps(page, objects):
        page.check(f"input[name=_selected_action][value='{objects[object_key]}']")
        page.select_option("select[name=action]", action)
        with page.expect_navigation():
            page.get_by_role("button", name="Go").click()

    return steps


CUSTOMER_PAGES = [
    Visit("overview", "/billing/"),
    Visit("pay", "/billing/pay/"),
    Visit("top-up records", "/billing/topups/"),
    Visit("statement", "/billing/statement/"),
    Visit("alert history", "/billing/alerts/"),
    Visit("invoices", "/billing/invoices/"),
    Visit("not found", "/billing/tickets/BT-1999-000001/", status=404),
]
ALICE_PAGES = CUSTOMER_PAGES + [
    Visit("pay with an error", "/billing/pay/", then=submit_with({"#id_amount": "10,50"}, "Next")),
    Visit("sandbox payment page", "{pending_checkout}"),
    Visit("top-up waiting for the gateway", "/billing/topups/{pending}/"),
    Visit("top-up credited", "/billing/topups/{credited}/"),
    Visit("receipt", "/billing/topups/{credited}/receipt/"),
    Visit("auto top-up", "/billing/pay/auto/"),
    Visit("preferences", "/account/preferences/"),
    Visit("bank transfer", "/billing/pay/bank-transfer/"),
    Visit("transfer tickets", "/billing/tickets/"),
    Visit("new ticket", "/billing/tickets/new/"),
    Visit(
        "new ticket with errors",
        "/billing/tickets/new/",
        then=submit_with({"#id_amount": "ten", "#id_bank_reference": "?"}, "Submit"),
    ),
    Visit("ticket", "/billing/tickets/{ticket}/"),
    Visit(
        "ticket reply with errors",
        "/billing/tickets/{ticket}/",
        then=submit_with({}, "Send", files={"#id_certificates": b"not a pdf"}),
    ),
    Visit("invoice", "/billing/invoices/{invoice}/"),
    Visit("statement, older entries", "/billing/statement/", then=follow_link("Older")),
]
REFUSED_PAGES = CUSTOMER_PAGES + [
    Visit("bank transfer (refused)", "/billing/pay/bank-transfer/", status=403),
    Visit("new ticket (refused)", "/billing/tickets/new/"),
]
VISITOR_PAGES = [
    Visit("sign in", "/login/"),
    Visit(
        "sign in with an error",
        "/login/",
        then=submit_with({"#id_username": "alice", "#id_password": "wrong"}, "Sign in"),
    ),
    Visit("not found", "/no-such-page/", status=404),
    Visit("API docs", "/api/v1/docs"),
]
FINANCE_PAGES = [
    Visit("ticket queue", "/admin/tickets/transferticket/"),
    Visit("ticket change page", "/admin/tickets/transferticket/{ticket_pk}/change/"),
    Visit(
        "confirm-and-credit confirmation",
        "/admin/tickets/transferticket/{ticket_pk}/change/",
        then=click_test_id("action-confirm_and_credit"),
    ),
    Visit("refund confirmation", "/admin/topups/topup/", then=choose_admin_action("refund", "credited_pk")),
]


@pytest.fixture
def demo(live_server):
    """`seed_demo`'s people, plus what makes alice's pages full: top-ups, a ticket, an alert."""
    call_command("seed_demo", force=True, stdout=StringIO())
    alice = User.objects.get(username="alice")
    pending = start_online_topup(
        account_id=alice.account_id, actor=alice, amount=Money("40.00", "USD"), request_key="a11y-pending"
    )
    paid = start_online_topup(
        account_id=alice.account_id, actor=alice, amount=Money("100.00", "USD"), request_key="a11y-paid"
    )
    complete_checkout(SandboxCheckout.objects.get(session_id=paid.gateway_session_id), outcome="paid")
    credited = reconcile_topup(topup_id=paid.pk)
    bank = ReceivingAccount.objects.get(currency="USD", retired_at__isnull=True)
    ticket = make_ticket(alice, bank)
    request_information(
        ticket_id=ticket.pk, actor=User.objects.get(username="finance"), message="Please attach the full statement."
    )
    account = Account.objects.get(pk=alice.account_id)
    below = account.balance.amount - account.alert_threshold + Decimal("20.00")
    post_ledger_entry(account_id=account.pk, amount=Money(-below, "USD"), kind="usage", source_ref="a11y:usage")
    check_balance_alert(account_id=account.pk)
    return {
        "pending": pending.public_id,
        "pending_checkout": pending.checkout_url.removeprefix(live_server.url),
        "credited": credited.public_id,
        "credited_pk": credited.pk,
        "ticket": ticket.number,
        "ticket_pk": ticket.pk,
        "invoice": Invoice.objects.filter(account=account).latest("issue_date").number,
    }


def sign_in(page, base_url, username):
    page.goto(f"{base_url}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", settings.DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/billing/$"))


def sign_in_to_admin(page, base_url, username):
    page.goto(f"{base_url}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", settings.DEMO_PASSWORD)
    page.fill("#id_otp_token", current_otp(TOTPDevice.objects.get(user__username=username)))
    page.click("input[type=submit]")
    expect(page).to_have_url(re.compile(r"/admin/$"))


def violations(page) -> list[dict]:
    results = AXE.run(page)
    return [v for v in results.response["violations"] if v["impact"] in FAILING_IMPACTS]


def describe(who: str, visit: Visit, width: int, found: list[dict]) -> list[str]:
    """One readable block per rule: what, where, and each element with axe's own reason."""
    lines = []
    for violation in found:
        lines.append(
            f"{who} · {visit.name} ({visit.path}) at {width} px: [{violation['impact']}] {violation['id']}: "
            f"{violation['help']} ({len(violation['nodes'])} elements) {violation['helpUrl']}"
        )
        for node in violation["nodes"][:8]:
            reason = node.get("failureSummary", "").replace("\n", " ").strip()
            lines.append(f"    {' '.join(node['target'])}: {node['html'][:160]}\n        {reason[:300]}")
    return lines


def audit(page, base_url, who, visits, objects, screenshot_dir) -> None:
    folder = screenshot_dir / "a11y"
    folder.mkdir(exist_ok=True)
    problems = []
    for visit in visits:
        page.set_viewport_size({"width": WIDTHS[0], "height": 900})
        response = page.goto(base_url + visit.path.format(**objects))
        assert response.status == visit.status, f"{who} · {visit.name}: HTTP {response.status}"
        assert "/login/" not in page.url or who == "visitor", f"{who} · {visit.name}: sent to sign in"
        if visit.then:
            visit.then(page, objects)
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 900 if width > 600 else 844})
            problems += describe(who, visit, width, violations(page))
            slug = re.sub(r"[^a-z0-9]+", "-", visit.name.lower()).strip("-")
            page.screenshot(path=folder / f"{who}-{slug}-{width}.png", full_page=True)
    assert not problems, "axe found critical or serious violations:\n" + "\n".join(problems)


@pytest.mark.parametrize(
    "who, visits",
    [("alice", ALICE_PAGES), ("bob", REFUSED_PAGES), ("carol", REFUSED_PAGES)],
)
def test_customer_pages_have_no_serious_accessibility_violations(page, live_server, demo, screenshot_dir, who, visits):
    sign_in(page, live_server.url, who)
    audit(page, live_server.url, who, visits, demo, screenshot_dir)


def test_sign_in_error_and_api_docs_pages_have_no_serious_accessibility_violations(
    page, live_server, demo, screenshot_dir
):
    audit(page, live_server.url, "visitor", VISITOR_PAGES, demo, screenshot_dir)


def test_our_admin_templates_have_no_serious_accessibility_violations(page, live_server, demo, screenshot_dir):
    sign_in_to_admin(page, live_server.url, "finance")
    audit(page, live_server.url, "finance", FINANCE_PAGES, demo, screenshot_dir)
