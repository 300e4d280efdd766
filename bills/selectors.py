"""Reads of bills, always scoped to their owner: another customer's bill is a 404."""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db.models import Subquery, Sum, Window
from django.shortcuts import get_object_or_404
from django.utils import timezone
from djmoney.money import Money

from accounts.models import Account

from .cycle import Period, finance_today, unbilled_usage
from .models import Bill
from .settlement import exact_sum

OVERVIEW_BILLS = 5  # the Overview lists this many unpaid bills, oldest first


def bills_for_account(account: Account):
    return Bill.objects.filter(account=account).order_by("-period_start", "-pk")


def outstanding_bills(account: Account):
    """Unpaid bills, oldest first: the order a repayment pays them in."""
    return Bill.objects.filter(account=account, status__in=Bill.OUTSTANDING).order_by("period_start", "pk")


def get_bill_for_account(account: Account, number: str) -> Bill:
    return get_object_or_404(bills_for_account(account), number=number)


@dataclass(frozen=True)
class PostpaidSummary:
    """What a postpaid account's Overview shows."""

    period: Period
    unbilled: Money
    outstanding: list[Bill]  # the oldest OVERVIEW_BILLS, and one more if there are more
    outstanding_total: Money
    credit: Money  # repaid and not used by a bill yet
    credit_limit: Money | None
    limit_left: Money | None
    today: date

    @property
    def shown(self) -> list[Bill]:
        return self.outstanding[:OVERVIEW_BILLS]

    @property
    def more(self) -> bool:
        return len(self.outstanding) > OVERVIEW_BILLS

    @property
    def owed(self) -> Money:
        return self.outstanding_total + self.unbilled


def postpaid_summary(account: Account) -> PostpaidSummary | None:
    """The Overview's postpaid panel in one query, or None for other account types."""
    if not account.is_postpaid:
        return None
    currency = account.billing_currency
    today = finance_today(timezone.now())
    outstanding, unbilled, due, paid = _owed(account)
    unbilled, outstanding_total = Money(unbilled, currency), Money(due - paid, currency)
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


def _owed(account: Account) -> tuple[list[Bill], Decimal, Decimal, Decimal]:
    """The oldest unpaid bills (and one more), unbilled usage and the unpaid bills' sums.

    One query: each bill row carries the sums over every unpaid bill (window functions run
    before LIMIT) and the unbilled usage. Without unpaid bills, one query for the usage alone.
    """
    unbilled = unbilled_usage(account).order_by().values("account_id").annotate(total=Sum("amount")).values("total")
    bills = list(
        outstanding_bills(account).annotate(
            due_sum=Window(Sum("amount_due")), paid_sum=Window(Sum("amount_paid")), unbilled=Subquery(unbilled)
        )[: OVERVIEW_BILLS + 1]
    )
    if bills:
        first = bills[0]
        return bills, exact_sum(first.unbilled), exact_sum(first.due_sum), exact_sum(first.paid_sum)
    total = unbilled_usage(account).aggregate(total=Sum("amount"))
    return [], exact_sum(total["total"]), Decimal(0), Decimal(0)
