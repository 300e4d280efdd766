"""Enterprise funds raced on PostgreSQL: threads released together by a barrier, each with its own
connection. Allocations compete for the master's last funds, one form is sent many times, and
reclaims race the member's usage charges; afterwards every balance is exact to the cent."""

import secrets
from decimal import Decimal

import pytest
from django.test import Client
from djmoney.money import Money

from accounts.enterprise import allocate, reclaim
from accounts.exceptions import InsufficientFunds
from accounts.ledger import post_ledger_entry
from accounts.models import Account, FundMove, LedgerEntry, UsageCharge
from accounts.usage_api.charges import ChargeRequest, post_usage_charges
from accounts.verification import ledger_mismatches, unbalanced_transfers
from tests.concurrency.test_races import race
from tests.factories import EnterpriseMemberAccountFactory, PrepaidAccountFactory, UserFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def usd(amount) -> Money:
    return Money(amount, "USD")


@pytest.fixture
def enterprise():
    """dave's enterprise with 350.00 USD, and its member carol."""
    master = PrepaidAccountFactory(name="Dave's Enterprise")
    post_ledger_entry(account_id=master.pk, amount=usd("350.00"), kind="adjustment", source_ref="seed:dave")
    dave = UserFactory(username="dave", account=master)
    carol = EnterpriseMemberAccountFactory(name="Carol", enterprise_master=master)
    return dave, carol


def balance(account) -> Money:
    return Account.objects.get(pk=account.pk).balance


def books_are_exact():
    assert ledger_mismatches() == []
    assert unbalanced_transfers() == []


def test_twenty_allocations_against_funds_for_seven_make_exactly_seven(enterprise):
    dave, carol = enterprise
    others = [EnterpriseMemberAccountFactory(enterprise_master=dave.account) for _ in range(3)]
    members = [carol, *others]

    def allocation(i):
        return lambda: allocate(
            master_id=dave.account_id,
            member_id=members[i % len(members)].pk,
            amount=usd("50.00"),
            actor=dave,
            request_key=f"form-{i:04d}-{secrets.token_hex(4)}",
        )

    results = race([allocation(i) for i in range(20)])

    made = [r for r in results if not isinstance(r, Exception)]
    refused = [r for r in results if isinstance(r, Exception)]
    assert len(made) == 7
    assert all(isinstance(r, InsufficientFunds) for r in refused), refused
    assert len(refused) == 13
    assert FundMove.objects.count() == 7
    assert balance(dave.account) == usd("0.00")
    assert sum(balance(m).amount for m in members) == Decimal("350.00")
    books_are_exact()


def test_one_form_sent_from_twelve_tabs_at_once_allocates_once(enterprise):
    dave, carol = enterprise
    key = secrets.token_urlsafe(24)

    def submit():
        browser = Client()
        browser.force_login(dave)
        return browser.post("/billing/enterprise/allocate/", {"member": carol.pk, "amount": "300", "request_key": key})

    responses = race([submit] * 12)

    assert [getattr(r, "status_code", r) for r in responses] == [303] * 12
    assert FundMove.objects.count() == 1
    assert LedgerEntry.objects.filter(kind="transfer").count() == 2
    assert balance(carol) == usd("300.00")
    assert balance(dave.account) == usd("50.00")
    books_are_exact()


def test_twenty_forms_sent_at_once_for_funds_covering_seven_allocate_seven_and_refuse_thirteen(enterprise):
    """The same race through the Enterprise page: twenty different forms (twenty tabs), 50.00 each."""
    dave, carol = enterprise

    def submit(i):
        def send():
            browser = Client()
            browser.force_login(dave)
            form = {"member": carol.pk, "amount": "50", "request_key": f"tab-{i:02d}-{secrets.token_hex(8)}"}
            return browser.post("/billing/enterprise/allocate/", form)

        return send

    responses = race([submit(i) for i in range(20)])

    statuses = sorted(getattr(r, "status_code", r) for r in responses)
    assert statuses == [303] * 7 + [409] * 13, statuses
    refused = [r for r in responses if r.status_code == 403]
    assert all(b"you cannot allocate 50.00 USD" in r.content for r in refused)
    assert FundMove.objects.count() == 7
    assert balance(carol) == usd("350.00")
    assert balance(dave.account) == usd("0.00")
    books_are_exact()


def test_a_reclaim_racing_the_members_charges_never_takes_more_than_is_there(enterprise):
    dave, carol = enterprise
    allocate(master_id=dave.account_id, member_id=carol.pk, amount=usd("100.00"), actor=dave, request_key="fund-carol")

    def charge(i):
        request = ChargeRequest(account_id=carol.pk, amount=usd("9.00"), idempotency_key=f"hour-{i}")
        return lambda: post_usage_charges(service="metering", requests=[request])

    def reclaim_60(i):
        return lambda: reclaim(
            master_id=dave.account_id, member_id=carol.pk, amount=usd("60.00"), actor=dave, request_key=f"back-{i:04d}"
        )

    results = race([charge(i) for i in range(8)] + [reclaim_60(i) for i in range(3)])

    assert not [r for r in results[:8] if isinstance(r, Exception)]  # a charge is never refused
    reclaims = FundMove.objects.filter(direction="reclaim")
    assert all(isinstance(r, InsufficientFunds) for r in results[8:] if isinstance(r, Exception))
    assert reclaims.count() <= 1  # 100 covers one reclaim of 60 at most
    for move in reclaims:
        assert move.debit_entry.balance_after.amount >= 0  # it took only what was there
    assert UsageCharge.objects.filter(account=carol).count() == 8
    reclaimed = Decimal(60) * reclaims.count()
    assert balance(carol) == usd(Decimal("100.00") - Decimal("72.00") - reclaimed)
    assert balance(dave.account) == usd(Decimal("250.00") + reclaimed)
    books_are_exact()


def test_allocations_and_reclaims_racing_each_other_keep_every_cent(enterprise):
    dave, carol = enterprise
    allocate(master_id=dave.account_id, member_id=carol.pk, amount=usd("100.00"), actor=dave, request_key="fund-carol")

    def one(service, i, amount):
        return lambda: service(
            master_id=dave.account_id, member_id=carol.pk, amount=usd(amount), actor=dave, request_key=f"mix-{i:04d}"
        )

    calls = [one(allocate, i, "30.00") for i in range(10)] + [one(reclaim, 100 + i, "45.50") for i in range(10)]
    race(calls)

    allocated = sum(m.amount.amount for m in FundMove.objects.filter(direction="allocation"))
    reclaimed = sum(m.amount.amount for m in FundMove.objects.filter(direction="reclaim"))
    assert balance(dave.account) == usd(Decimal("350.00") - allocated + reclaimed)
    assert balance(carol) == usd(allocated - reclaimed)
    assert balance(dave.account).amount >= 0
    assert balance(carol).amount >= 0
    books_are_exact()
