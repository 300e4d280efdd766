"""Reads of bills, always scoped to their owner: another customer's bill is a 404."""

from dataclasses import dataclass
from datetime import date

from django.db.models import Sum
from django.shortcuts import get_object_or_404
from django.utils import timezone
from djmoney.money import Money

from accounts.models import Account, UsageCharge

from .cycle import Period, finance_today
from .models import Bill
from .settlement import exact_sum


def bills_for_account(account: Account):
    return Bill.objects.filter(account=account).order_by("-period_start", "-pk")


def outstanding_bills(account: Account):
    """Unpaid bills, oldest first: the order a repayment pays them in."""
    return Bill.objects.filter(account=account, status__in=Bill.OUTSTANDING).order_by("period_start", "pk")


def get_bill_for_account(account: Account, number: str) -> Bill:
    return get_object_or_404(bills_for_account(account), number=number)


def unbilled_usage(account: Account) -> Money:
    """Usage charged and not on a bill yet: this month's, and any that came after its month closed."""
    total = UsageCharge.objects.filter(account=account, bill_charge__isnull=True).aggregate(total=Sum("amount"))
    return Money(exact_sum(total["total"]), account.billing_currency)


@dataclass(frozen=True)
class PostpaidSummary:
    """What a postpaid account's Overview shows."""

    period: Period
    unbilled: Money
    outstanding: list[Bill]
    outstanding_total: Money
    credit: Money  # repaid and not used by a bill yet
    credit_limit: Money | None
    limit_left: Money | None
    today: date

    @property
    def owed(self) -> Money:
        return self.outstanding_total + self.unbilled


def postpaid_summary(account: Account) -> PostpaidSummary | None:
    """The Overview's postpaid panel (two queries), or None for other account types."""
    if not account.is_postpaid:
        return None
    currency = account.billing_currency
    today = finance_today(timezone.now())
    outstanding = list(outstanding_bills(account))
    outstanding_total = sum((b.remaining for b in outstanding), Money(0, currency))
    unbilled = unbilled_usage(account)
    # balance = repaid - charged, so what is repaid beyond the bills and usage is balance + both.
    credit = account.balance + outstanding_total + unbilled
    limit = account.credit_limit_money
    return PostpaidSummary(
        period=Period.containing(today),
        unbilled=unbilled,
        outstanding=outstanding,
        outstanding_total=outstanding_total,
        credit=credit if credit.amount > 0 else Money(0, currency),
        credit_limit=limit,
        # What may still be used before the limit: the limit less what is owed now (-balance).
        limit_left=None if limit is None else limit + account.balance,
        today=today,
    )
