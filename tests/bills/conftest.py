"""Postpaid accounts with usage, and the helpers bills tests share."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from djmoney.money import Money

from accounts.models import UsageCharge
from accounts.usage_api.charges import ChargeRequest, post_usage_charges
from bills.cycle import Period, close_account_period
from tests.factories import PostpaidAccountFactory, UserFactory
from tests.tickets.conftest import bank, certificate_dir, clerk, finance_group  # noqa: F401 (fixtures)

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOVEMBER = Period.containing(datetime(2026, 11, 15).date())
DECEMBER = Period.containing(datetime(2026, 12, 15).date())
OCTOBER = Period.containing(datetime(2026, 10, 15).date())


def at(*args) -> datetime:
    """A moment in finance's time zone (Asia/Shanghai by default)."""
    return datetime(*args, tzinfo=SHANGHAI)


def charge(account, amount: str, when: datetime, key: str, *, service: str = "compute", description: str = ""):
    [result] = post_usage_charges(
        service=service,
        requests=[ChargeRequest(account.pk, Money(amount, "USD"), key, description)],
        now=when,
    )
    assert result.outcome == "created", result
    return UsageCharge.objects.get(pk=result.charge.id)


def close(account, period: Period, now: datetime | None = None):
    return close_account_period(account_id=account.pk, period=period, now=now or period.ends_at)


@pytest.fixture
def bob():
    account = PostpaidAccountFactory(name="Bob's Shop")
    return UserFactory(username="bob", first_name="Bob", email="bob@example.com", account=account)
