"""The demo tells a true story: the usage stream spends what the seeded history spent (a
balance lasts days, the alert's runway is right for it), and `demo_alert` shows the alert on
demand, despite the 24-hour limit, through the ledger like any other money."""

import re
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from djmoney.money import Money

from accounts.alerts import accounts_due_an_alert, check_balance_alert
from accounts.management.commands.simulate_usage import HOURLY_PRICES, window_charges
from accounts.models import Account, BalanceAlert, LedgerEntry, User
from accounts.usage_api.charges import post_usage_charges
from accounts.verification import ledger_mismatches
from tests.factories import PrepaidAccountFactory

pytestmark = pytest.mark.django_db
DAY = 86_400


def test_the_stream_charges_twelve_a_day_to_the_cent_whatever_the_window():
    account = PrepaidAccountFactory()
    assert sum(HOURLY_PRICES.values()) * 24 == Decimal("12.00")
    start = 1_796_083_200  # a midnight, UTC
    for every in (20, 300, 3600):
        total = sum(
            charge.amount.amount
            for begin in range(start, start + DAY, every)
            for charge in window_charges(account, start=begin, end=begin + every, scale=Decimal(1))
        )
        assert total == Decimal("12.00"), every


def test_a_window_charged_twice_is_charged_once():
    account = PrepaidAccountFactory(balance=Money("100.00", "USD"))
    for _ in range(2):
        requests = window_charges(account, start=1_796_083_200, end=1_796_086_800, scale=Decimal(1))
        post_usage_charges(service="demo-metering", requests=requests)
    account.refresh_from_db()
    assert account.balance == Money("99.50", "USD")


def test_the_seeded_alert_runway_matches_the_stream(settings):
    settings.DEMO = True
    call_command("seed_demo")
    alice = User.objects.get(username="alice").account
    seeded_daily = -sum(e.amount.amount for e in alice.ledger_entries.filter(kind=LedgerEntry.Kind.USAGE)) / 28
    streamed_daily = sum(HOURLY_PRICES.values()) * 24
    assert abs(seeded_daily - streamed_daily) / streamed_daily < Decimal("0.05")
    assert alice.balance > alice.alert_threshold_money  # nothing fires before anyone signs in
    days_to_threshold = (alice.balance.amount - alice.alert_threshold) / streamed_daily
    assert days_to_threshold >= Decimal("0.5")


def test_demo_alert_crosses_now_twice_in_a_row_and_the_ledger_adds_up(settings, capsys):
    settings.DEMO = True
    call_command("seed_demo")
    alice = User.objects.get(username="alice").account
    for crossing in (1, 2):
        call_command("demo_alert", "alice")
        assert "below the alert threshold" in capsys.readouterr().out
        account = Account.objects.get(pk=alice.pk)
        assert account.balance < account.alert_threshold_money
        assert account.pk in list(accounts_due_an_alert())
        alert = check_balance_alert(account_id=account.pk)
        assert alert.crossing == crossing
        # The runway is the stream's: the demo's own drop is an adjustment, not usage.
        days = int(re.search(r"about (\d+) days left", alert.text).group(1))
        assert abs(days - account.balance.amount / (sum(HOURLY_PRICES.values()) * 24)) <= 1.5
    assert BalanceAlert.objects.filter(account=alice).count() == 2
    assert not ledger_mismatches()


def test_demo_alert_is_refused_outside_the_demo_and_for_a_customer_without_an_alert(settings):
    settings.DEMO = False
    with pytest.raises(CommandError, match="Only for the local demo"):
        call_command("demo_alert", "alice")
    settings.DEMO = True
    call_command("seed_demo")
    with pytest.raises(CommandError, match="no expenditure alert"):
        call_command("demo_alert", "dave")
    with pytest.raises(CommandError, match="not a customer"):
        call_command("demo_alert", "finance")


def test_every_demo_statement_adds_up_row_by_row_in_date_order(settings):
    """Each entry's balance after is the one before it plus its amount, as the statement lists them (by date):
    the enterprise's allocations and the members' usage, seeded after the month of history but dated inside it,
    had made dave's and carol's statements jump (carol: 350.00, then 18.40 spent, 294.80 left)."""
    settings.DEMO = True
    call_command("seed_demo")
    for account in Account.objects.filter(ledger_entries__isnull=False).distinct():
        balance = Decimal(0)
        for entry in account.ledger_entries.order_by("created_at", "id"):
            balance += entry.amount.amount
            assert entry.balance_after.amount == balance, (account.name, entry.created_at, entry.description)
        assert account.balance.amount == balance
