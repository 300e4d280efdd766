"""The Overview chart's closing balance per day, summed per day by the database."""

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from djmoney.money import Money

from accounts.ledger import post_ledger_entry
from accounts.selectors import daily_balances
from tests.factories import PrepaidAccountFactory

pytestmark = pytest.mark.django_db

TODAY = date(2026, 11, 26)


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return timezone.make_aware(datetime(day.year, day.month, day.day, hour, minute), timezone.get_current_timezone())


def post(account, amount: str, when: datetime, ref: str) -> None:
    post_ledger_entry(
        account_id=account.pk, amount=Money(Decimal(amount), "USD"), kind="adjustment", source_ref=ref, now=when
    )


def test_each_day_closes_at_the_balance_after_its_last_entry():
    account = PrepaidAccountFactory()
    post(account, "100.00", at(TODAY - timedelta(days=40), 9), "old")  # before the window: only in the balance
    post(account, "50.00", at(TODAY - timedelta(days=2), 0, 0), "first-minute")
    post(account, "-20.25", at(TODAY - timedelta(days=2), 23, 59), "last-minute")
    post(account, "-0.10", at(TODAY, 8), "today-1")
    post(account, "-0.20", at(TODAY, 9), "today-2")
    account.refresh_from_db()

    points = daily_balances(account, days=5, today=TODAY)

    assert [day for day, _ in points] == [TODAY - timedelta(days=n) for n in (4, 3, 2, 1, 0)]
    assert [str(balance.amount) for _, balance in points] == ["100.00", "100.00", "129.75", "129.75", "129.45"]
    assert points[-1][1] == account.balance


def test_days_follow_the_site_time_zone(settings):
    """An entry at 23:30 in Shanghai is that day's, though it is still the day before in UTC."""
    settings.TIME_ZONE = "Asia/Shanghai"
    account = PrepaidAccountFactory()
    with timezone.override("Asia/Shanghai"):
        post(account, "10.00", at(TODAY - timedelta(days=1), 23, 30), "late")
        post(account, "5.00", at(TODAY, 0, 30), "early")
        account.refresh_from_db()
        points = daily_balances(account, days=2, today=TODAY)
    assert [str(balance.amount) for _, balance in points] == ["10.00", "15.00"]


def test_an_account_without_entries_is_flat_at_zero():
    points = daily_balances(PrepaidAccountFactory(), days=3, today=TODAY)
    assert [balance for _, balance in points] == [Money(0, "USD")] * 3
