"""The month close: one bill per account and period, every charge on exactly one bill."""

from datetime import UTC, timedelta

import pytest
import time_machine
from djmoney.money import Money

from accounts.ledger import credit_deposit
from accounts.lifecycle import change_account_type
from accounts.models import Account, UsageCharge
from bills.cycle import close_billing_month
from bills.models import Bill, BillCharge
from tests.bills.conftest import DECEMBER, NOVEMBER, at, charge, close
from tests.factories import PrepaidAccountFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_a_month_closes_into_one_bill_grouped_by_service(bob):
    account = bob.account
    charge(account, "10.00", at(2026, 11, 3, 9), "a", description="vm small")
    charge(account, "5.50", at(2026, 11, 9, 9), "b", description="vm small")
    charge(account, "2.25", at(2026, 11, 20, 9), "c", service="storage", description="disks")

    bill = close(account, NOVEMBER, now=at(2026, 12, 1, 2))

    assert bill.number == f"BL-2026-11-{account.pk:06d}"
    assert bill.amount_due == Money("17.75", "USD")
    assert bill.status == Bill.Status.OPEN
    assert bill.due_on == at(2026, 12, 1).date() + timedelta(days=15)
    lines = {(line.service, line.description): (line.count, line.total) for line in bill.lines.all()}
    assert lines == {
        ("compute", "vm small"): (2, Money("15.50", "USD")),
        ("storage", "disks"): (1, Money("2.25", "USD")),
    }


def test_closing_again_makes_no_second_bill(bob):
    charge(bob.account, "10.00", at(2026, 11, 3, 9), "a")
    first = close(bob.account, NOVEMBER)
    again = close(bob.account, NOVEMBER)
    assert again.pk == first.pk
    assert Bill.objects.count() == 1
    assert BillCharge.objects.count() == 1


def test_the_month_ends_at_midnight_in_finances_time_zone(bob):
    """23:59:59 on the 30th in Shanghai is November; 00:00 on the 1st is December, though UTC still says November."""
    account = bob.account
    last_moment = charge(account, "1.00", at(2026, 11, 30, 23, 59, 59), "last")
    next_month = charge(account, "2.00", at(2026, 12, 1, 0, 0), "first")
    assert next_month.created_at.astimezone(UTC).month == 11

    november = close(account, NOVEMBER)
    december = close(account, DECEMBER)

    assert [c.usage_charge_id for c in november.charges.all()] == [last_moment.pk]
    assert [c.usage_charge_id for c in december.charges.all()] == [next_month.pk]


def test_a_charge_that_commits_after_its_month_closed_lands_on_the_next_bill(bob):
    account = bob.account
    charge(account, "10.00", at(2026, 11, 10), "early")
    november = close(account, NOVEMBER, now=at(2026, 12, 1, 1))
    late = charge(account, "4.00", at(2026, 11, 30, 23, 59), "late")  # dated November, posted after the close
    charge(account, "6.00", at(2026, 12, 5), "december")

    december = close(account, DECEMBER)

    assert november.amount_due == Money("10.00", "USD")
    assert december.amount_due == Money("10.00", "USD")
    assert BillCharge.objects.get(usage_charge=late).bill == december
    assert BillCharge.objects.count() == UsageCharge.objects.count() == 3  # each on exactly one bill


def test_the_beat_task_bills_every_postpaid_account_with_usage_and_only_those(bob):
    prepaid = PrepaidAccountFactory()
    idle = type(bob.account).objects.create(name="Idle", type="postpaid")
    charge(bob.account, "10.00", at(2026, 11, 10), "bob")
    charge(prepaid, "3.00", at(2026, 11, 10), "prepaid")

    bills = close_billing_month(now=at(2026, 12, 1, 0, 30))
    assert [b.account_id for b in bills] == [bob.account.pk]
    assert close_billing_month(now=at(2026, 12, 2)) == []  # again: nothing new
    assert not Bill.objects.filter(account__in=[prepaid, idle]).exists()


def test_the_database_refuses_a_second_bill_for_a_period(bob):
    from django.db import IntegrityError, transaction

    charge(bob.account, "10.00", at(2026, 11, 10), "a")
    bill = close(bob.account, NOVEMBER)
    with pytest.raises(IntegrityError), transaction.atomic():
        Bill.objects.create(
            account=bob.account,
            number="BL-OTHER",
            period_start=bill.period_start,
            period_end=bill.period_end,
            amount_due=Money("1.00", "USD"),
            issued_at=bill.issued_at,
            due_on=bill.due_on,
        )
    charge_row = BillCharge.objects.get()
    with pytest.raises(IntegrityError), transaction.atomic():
        BillCharge.objects.create(bill=bill, usage_charge_id=charge_row.usage_charge_id)


def test_an_account_turned_postpaid_is_billed_only_for_what_it_used_since(client):
    """Its prepaid usage was paid from its balance: the first bill had asked for it again (found by a helper)."""
    account = PrepaidAccountFactory()
    user = UserFactory(account=account)
    credit_deposit(account_id=account.pk, amount=Money("100.00", "USD"), kind="bank_transfer", source_ref="bank:t:1")
    charge(account, "100.00", at(2026, 11, 3), "prepaid-days")
    with time_machine.travel(at(2026, 11, 10), tick=False):
        change_account_type(account_id=account.pk, kind=Account.Type.POSTPAID)
    client.force_login(user)
    assert 'data-testid="unbilled">0.00 USD<' in client.get("/billing/").content.decode()  # it had said 100.00
    charge(account, "12.50", at(2026, 11, 20), "postpaid-days")
    bill = close(Account.objects.get(pk=account.pk), NOVEMBER)
    assert bill.amount_due == Money("12.50", "USD")
    assert Account.objects.get(pk=account.pk).balance == Money("-12.50", "USD")  # what the bill asks for


def test_an_account_leaves_postpaid_only_once_its_usage_is_billed_and_its_bills_paid(bob):
    """Turned prepaid with usage unbilled (repaid in advance, a zero balance), that usage was billed nowhere while
    its repayment still counted as credit for the next bills: the next bill asked 10.00 of 40.00 owed (found by a
    helper)."""
    from accounts.exceptions import AccountChangeRefused
    from bills.settlement import repay

    charge(bob.account, "30.00", at(2026, 11, 3), "nov")
    repay(account_id=bob.account_id, amount=Money("30.00", "USD"), source_ref="ticket:advance", description="Advance")
    assert Account.objects.get(pk=bob.account_id).balance == Money("0.00", "USD")
    with pytest.raises(AccountChangeRefused, match="usage not billed yet or bills to pay"):
        change_account_type(account_id=bob.account_id, kind=Account.Type.PREPAID)
    bill = close(bob.account, NOVEMBER)  # the credit pays it at the close
    bill.refresh_from_db()
    assert bill.status == Bill.Status.PAID
    assert change_account_type(account_id=bob.account_id, kind=Account.Type.PREPAID).type == Account.Type.PREPAID
