"""Reads of bills, always scoped to their owner: another customer's bill is a 404."""

from dataclasses import dataclass
from datetime import date

from django.db.models import Subquery, Sum
from django.shortcuts import get_object_or_404
from django.utils import timezone
from djmoney.money import Money

from accounts.models import Account, UsageCharge

from .cycle import Period, finance_today
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


def unbilled_usage(account: Account) -> Money:
    """Usage charged and not on a bill yet: this month's, and any that came after its month closed."""
    total = UsageCharge.objects.filter(account=account, bill_charge__isnull=True).aggregate(total=Sum("amount"))
    return Money(exact_sum(total["total"]), account.billing_currency)


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
    """The Overview's postpaid panel (one query, two with unpaid bills), or None for other account types."""
    if not account.is_postpaid:
        return None
    currency = account.billing_currency
    today = finance_today(timezone.now())
    sums = _money_owed(account)
    unbilled = Money(exact_sum(sums["unbilled"]), currency)
    outstanding_total = Money(exact_sum(sums["due"]) - exact_sum(sums["paid"]), currency)
    outstanding = list(outstanding_bills(account)[: OVERVIEW_BILLS + 1]) if sums["due"] else []
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


def _money_owed(account: Account) -> dict:
    """Unbilled usage and the unpaid bills' sums, in one query."""
    unpaid = Bill.objects.filter(account=account, status__in=Bill.OUTSTANDING).order_by().values("account_id")
    unbilled = UsageCharge.objects.filter(account=account, bill_charge__isnull=True).order_by().values("account_id")
    return (
        Account.objects.filter(pk=account.pk)
        .annotate(
            unbilled=Subquery(unbilled.annotate(total=Sum("amount")).values("total")),
            due=Subquery(unpaid.annotate(total=Sum("amount_due")).values("total")),
            paid=Subquery(unpaid.annotate(total=Sum("amount_paid")).values("total")),
        )
        .values("unbilled", "due", "paid")
        .get()
    )
