"""Every page costs the same number of queries at any size: an N+1 cannot come back unnoticed.

Each page is read at two data sizes (rows of every kind it lists, made with bench/data.py)
and must use no more queries with more rows, and few: at most 8 for a customer page (9 for a postpaid Overview), 12
for finance's admin. Timings live in bench/ (`make bench`), never here.
"""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from djmoney.money import Money

from accounts.models import BalanceAlert, User
from bench.data import add_members, grow_customer
from bills.models import Bill
from tests.factories import PostpaidAccountFactory, UserFactory
from tests.helpers import staff_login
from tests.tickets.conftest import FINANCE_CODENAMES, usd_receiving_account
from tickets.models import Invoice, TransferTicket
from topups.models import TopUp

pytestmark = pytest.mark.django_db
SIZES = (10, 60)
CUSTOMER_MOST, ADMIN_MOST = 8, 12
# The Overview asks every money-in path (accounts.deposits) and a postpaid account's bills panel: the
# postpaid one is at 9 since it names tickets finance asked about (bob had heard only by e-mail).
OVERVIEW_MOST = 9

CUSTOMER_PAGES = {
    "overview": lambda: "/billing/",
    "pay": lambda: "/billing/pay/",
    "bank transfer": lambda: "/billing/pay/bank-transfer/",
    "top-up records": lambda: "/billing/topups/",
    "top-up records csv": lambda: "/billing/topups/?format=csv",
    "top-up": lambda: f"/billing/topups/{TopUp.objects.earliest('pk').public_id}/",
    "receipt": lambda: f"/billing/topups/{TopUp.objects.earliest('pk').public_id}/receipt/",
    "statement": lambda: "/billing/statement/",
    "alert history": lambda: "/billing/alerts/",
    "tickets": lambda: "/billing/tickets/",
    "ticket": lambda: f"/billing/tickets/{TransferTicket.objects.earliest('pk').number}/",
    "new ticket": lambda: "/billing/tickets/new/",
    "invoices": lambda: "/billing/invoices/",
    "invoice": lambda: f"/billing/invoices/{Invoice.objects.earliest('pk').number}/",
    "preferences": lambda: "/account/preferences/",
    "enterprise": lambda: enterprise_page(),
}
ADMIN_PAGES = {
    "ticket queue": lambda: "/admin/tickets/transferticket/",
    "ticket queue, all": lambda: "/admin/tickets/transferticket/?due=all",
    "ticket": lambda: f"/admin/tickets/transferticket/{TransferTicket.objects.earliest('pk').pk}/change/",
    "accounts": lambda: "/admin/accounts/account/",
    "ledger entries": lambda: "/admin/accounts/ledgerentry/",
    "top-ups": lambda: "/admin/topups/topup/",
    "fund moves": lambda: fund_moves_admin(),
    "bills": lambda: "/admin/bills/bill/",
    "postpaid accounts": lambda: "/admin/bills/postpaidaccount/",
}


def enterprise_page() -> str:
    """alice as an enterprise master: as many funded members as she has top-ups (the size)."""
    alice = User.objects.select_related("account").get(username="alice")
    members = alice.account.members.count()
    add_members(master=alice.account, actor=alice, count=TopUp.objects.count() - members, start=members)
    return "/billing/enterprise/"


def fund_moves_admin() -> str:
    enterprise_page()  # the moves grow with alice's members
    return "/admin/accounts/fundmove/"


@pytest.fixture
def world(client):
    from django.contrib.auth.models import Group, Permission

    customer = UserFactory(username="alice")
    bank = usd_receiving_account()
    clerk = UserFactory(username="fiona", account=None, is_staff=True)
    group, _ = Group.objects.get_or_create(name="Finance")
    group.permissions.set(Permission.objects.filter(codename__in=FINANCE_CODENAMES))
    clerk.groups.add(group)
    return customer, bank, clerk


def queries_at_each_size(client, world, url_of) -> list[int]:
    customer, bank, _ = world
    counts, made = [], 0
    for size in SIZES:
        grow_customer(account=customer.account, user=customer, bank=bank, count=size - made, start=made)
        made = size
        url = url_of()
        client.get(url)  # the first request fills per-process caches (content types, site)
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        counts.append(len(queries.captured_queries))
    return counts


@pytest.mark.parametrize("page", CUSTOMER_PAGES)
def test_a_customer_page_costs_the_same_few_queries_at_any_size(client, world, page):
    client.force_login(world[0])
    counts = queries_at_each_size(client, world, CUSTOMER_PAGES[page])
    # Never more with more rows (a page of records may hold one kind only, and skip a query).
    assert counts[1] <= counts[0] <= CUSTOMER_MOST, f"{page}: {counts} queries at {SIZES} rows"


@pytest.mark.parametrize("page", ADMIN_PAGES)
def test_a_finance_admin_page_costs_the_same_few_queries_at_any_size(client, world, page):
    staff_login(client, world[2])
    counts = queries_at_each_size(client, world, ADMIN_PAGES[page])
    assert counts[1] <= counts[0] <= ADMIN_MOST, f"{page}: {counts} queries at {SIZES} rows"


def test_the_rows_really_grow(client, world):
    customer, bank, _ = world
    grow_customer(account=customer.account, user=customer, bank=bank, count=SIZES[1])
    account = customer.account
    account.refresh_from_db()
    assert TopUp.objects.filter(account=account).count() == SIZES[1]
    assert TransferTicket.objects.filter(account=account).count() == SIZES[1]
    assert Invoice.objects.filter(account=account).count() == BalanceAlert.objects.count() == SIZES[1]
    assert account.ledger_entries.count() == 2 * SIZES[1] and account.balance > Money(0, "USD")  # history + top-ups


POSTPAID_PAGES = {
    "overview (postpaid)": lambda: "/billing/",
    "bills": lambda: "/billing/bills/",
    "bill": lambda: f"/billing/bills/{Bill.objects.earliest('pk').number}/",
    "bill pdf": lambda: f"/billing/bills/{Bill.objects.earliest('pk').number}/bill.pdf",
    "repay": lambda: "/billing/repay/",
    "repay by bank transfer": lambda: "/billing/repay/bank-transfer/",
}


def grow_postpaid(account, *, count: int, start: int) -> None:
    """`count` more monthly bills, each with charges of two services, every third one repaid, and unbilled usage."""
    from datetime import date

    from accounts.usage_api.charges import ChargeRequest, post_usage_charges
    from bills.cycle import Period, close_account_period
    from bills.settlement import repay

    for i in range(start, start + count):
        period = Period.containing(date(2000 + i // 12, i % 12 + 1, 15))
        when = period.ends_at - timedelta(days=10)
        post_usage_charges(
            service="compute",
            requests=[ChargeRequest(account.pk, Money("3.00", "USD"), f"q:{i}:{n}", f"vm {n % 2}") for n in range(3)],
            now=when,
        )
        post_usage_charges(
            service="storage", requests=[ChargeRequest(account.pk, Money("1.00", "USD"), f"q:{i}", "disk")], now=when
        )
        close_account_period(account_id=account.pk, period=period, now=period.ends_at)
        if i % 3 == 0:
            repay(account_id=account.pk, amount=Money("12.00", "USD"), source_ref=f"q:repay:{i}")
    post_usage_charges(
        service="compute",
        requests=[ChargeRequest(account.pk, Money("2.00", "USD"), f"q:now:{start}")],
    )


@pytest.mark.parametrize("page", POSTPAID_PAGES)
def test_a_postpaid_page_costs_the_same_few_queries_at_any_size(client, world, page):
    bob = UserFactory(username="bob", account=PostpaidAccountFactory(credit_limit="1000.00"))
    client.force_login(bob)
    counts, made = [], 0
    for size in SIZES:
        grow_postpaid(bob.account, count=size - made, start=made)
        made = size
        url = POSTPAID_PAGES[page]()
        client.get(url)
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        counts.append(len(queries.captured_queries))
    assert Bill.objects.count() == SIZES[1]
    most = OVERVIEW_MOST if page.startswith("overview") else CUSTOMER_MOST
    assert counts[1] <= counts[0] <= most, f"{page}: {counts} queries at {SIZES} rows"
