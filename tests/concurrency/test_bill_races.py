"""Postpaid races on PostgreSQL: closing a month and repaying bills, raced by real threads."""

from decimal import Decimal

import pytest
from djmoney.money import Money

from accounts.models import LedgerEntry
from accounts.verification import ledger_mismatches
from bills.cycle import close_billing_month
from bills.models import Bill, BillCharge, Settlement
from bills.settlement import repay
from tests.bills.conftest import DECEMBER, NOVEMBER, OCTOBER, at, charge, close
from tests.concurrency.test_races import race
from tests.factories import PostpaidAccountFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_the_month_close_run_eight_times_at_once_makes_one_bill_per_account():
    accounts = [PostpaidAccountFactory() for _ in range(3)]
    for n, account in enumerate(accounts):
        for day in range(1, 6):
            charge(account, f"{n + 1}.00", at(2026, 11, day), f"{account.pk}:{day}")

    results = race([lambda: close_billing_month(now=at(2026, 12, 1, 1))] * 8)

    assert not [r for r in results if isinstance(r, Exception)], results
    assert Bill.objects.count() == 3
    assert BillCharge.objects.count() == 15
    for n, account in enumerate(accounts):
        assert Bill.objects.get(account=account).amount_due == Money(5 * (n + 1), "USD")
        account.refresh_from_db()
        assert account.balance == Money(-5 * (n + 1), "USD")  # a close moves no money
    assert ledger_mismatches() == []


def test_a_close_racing_new_charges_puts_each_charge_on_exactly_one_bill():
    account = PostpaidAccountFactory()
    charge(account, "1.00", at(2026, 11, 2), "first")
    late = [lambda i=i: charge(account, "1.00", at(2026, 11, 30, 23, 59), f"late:{i}") for i in range(6)]

    results = race([lambda: close(account, NOVEMBER, now=at(2026, 12, 1, 1))] + late)

    assert not [r for r in results if isinstance(r, Exception)], results
    november = Bill.objects.get()
    assert november.amount_due == Money(november.charges.count(), "USD")  # the bill holds exactly its charges
    december = close(account, DECEMBER)  # None when every late charge made November's close
    assert november.charges.count() + (december.charges.count() if december else 0) == 7
    account.refresh_from_db()
    assert account.balance == Money("-7.00", "USD")
    assert ledger_mismatches() == []


def test_repayments_racing_the_month_close_pay_the_new_bill_exactly_once():
    """Each repayment lands before the bill (credit the close uses) or after it (settling it): either
    way the bill is paid exactly what was repaid, to the cent."""
    account = PostpaidAccountFactory()
    for day in range(1, 8):
        charge(account, "7.15", at(2026, 11, day), f"nov:{day}")  # 50.05

    closes = [lambda: close(account, NOVEMBER, now=at(2026, 12, 1, 1))] * 4
    repayments = [
        lambda i=i: repay(account_id=account.pk, amount=Money("10.01", "USD"), source_ref=f"race:{i}") for i in range(3)
    ]
    results = race(closes + repayments)

    assert not [r for r in results if isinstance(r, Exception)], results
    bill = Bill.objects.get()
    assert bill.amount_due == Money("50.05", "USD")
    assert (bill.amount_paid, bill.status) == (Money("30.03", "USD"), Bill.Status.PARTLY_PAID)
    assert sum(s.amount.amount for s in Settlement.objects.all()) == Decimal("30.03")
    account.refresh_from_db()
    assert account.balance == Money("-20.02", "USD")
    assert ledger_mismatches() == []


def test_ten_repayments_racing_settle_exactly_what_was_paid():
    account = PostpaidAccountFactory()
    charge(account, "30.00", at(2026, 10, 3), "oct")
    charge(account, "50.00", at(2026, 11, 3), "nov")
    october, november = close(account, OCTOBER), close(account, NOVEMBER)

    ten = Money("10.00", "USD")
    results = race([lambda i=i: repay(account_id=account.pk, amount=ten, source_ref=f"race:{i}") for i in range(10)])

    assert not [r for r in results if isinstance(r, Exception)], results
    october.refresh_from_db()
    november.refresh_from_db()
    assert (october.status, november.status) == (Bill.Status.PAID, Bill.Status.PAID)
    assert sum(s.amount.amount for s in Settlement.objects.all()) == 80  # 100 repaid: 20 stays as credit
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.REPAYMENT).count() == 10
    account.refresh_from_db()
    assert account.balance == Money("20.00", "USD")
    assert ledger_mismatches() == []


def test_usage_that_waited_for_the_switch_to_postpaid_is_billed():
    """A charge posted while the account turned postpaid had been timed before it waited for the account's lock:
    earlier than postpaid_since, it was billed nowhere though the balance owed it (found by a helper)."""
    import threading
    import time

    from django.db import connection, transaction

    from accounts.lifecycle import change_account_type
    from accounts.models import Account
    from accounts.usage_api.charges import ChargeRequest, post_usage_charges
    from bills.cycle import Period, close_account_period, finance_today
    from tests.factories import PrepaidAccountFactory

    account = PrepaidAccountFactory()
    charging = threading.Thread(
        target=lambda: (
            post_usage_charges(service="compute", requests=[ChargeRequest(account.pk, Money("10.00", "USD"), "k-1")]),
            connection.close(),
        )
    )
    with transaction.atomic():  # the switch's lock held while the charge comes in and waits for it
        Account.objects.select_for_update().get(pk=account.pk)
        charging.start()
        with connection.cursor() as cursor:
            for _ in range(200):  # until the charge waits on the row lock (a wait for it to arrive, not for nothing)
                cursor.execute("SELECT pg_stat_clear_snapshot()")  # this transaction would see its first snapshot
                cursor.execute(
                    "SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
                )
                if cursor.fetchone():
                    break
                time.sleep(0.05)
            else:
                pytest.fail("the charge never waited for the account's lock")
        change_account_type(account_id=account.pk, kind=Account.Type.POSTPAID)
    charging.join(30)
    period = Period.containing(finance_today(Account.objects.get(pk=account.pk).postpaid_since))
    bill = close_account_period(account_id=account.pk, period=period, now=period.ends_at)
    assert Account.objects.get(pk=account.pk).balance == Money("-10.00", "USD")
    assert bill is not None and bill.amount_due == Money("10.00", "USD")
