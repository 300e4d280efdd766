"""The billing cycle: each calendar month, in finance's time zone, becomes one bill per
postpaid account.

close_billing_month (a beat task, every hour) closes the last finished month for every
postpaid account. A bill takes every unbilled usage charge of the account created before
the month's end, so a charge that commits after its month was closed lands on the next bill,
and none on two (BillCharge's unique charge). The account's row lock serialises a close with
another close and with new charges (the ledger writer takes the same lock); the unique
(account, period_start) is the guard behind it. Running it again, or twice at once, makes
one bill.
"""

import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, Sum
from django.utils import timezone
from django.utils.translation import gettext as _
from djmoney.money import Money

from accounts.descriptions import CREDIT_FROM_EARLIER, describe
from accounts.exceptions import AccountChangeRefused
from accounts.models import Account, UsageCharge
from accounts.outbound_webhooks.events import emit

from .events import bill_data
from .models import Bill, BillCharge, BillLine
from .settlement import exact_sum, settle_bills

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Period:
    """One calendar month in finance's time zone."""

    start: date  # the 1st
    end: date  # the last day

    @property
    def starts_at(self) -> datetime:
        return datetime.combine(self.start, time.min, tzinfo=finance_zone())

    @property
    def ends_at(self) -> datetime:
        """The instant the month is over: midnight starting the next month, finance's time."""
        return datetime.combine(self.end + timedelta(days=1), time.min, tzinfo=finance_zone())

    @classmethod
    def containing(cls, day: date) -> "Period":
        start = day.replace(day=1)
        following = (start + timedelta(days=32)).replace(day=1)
        return cls(start, following - timedelta(days=1))


def finance_zone() -> ZoneInfo:
    return ZoneInfo(settings.FINANCE_TIME_ZONE)


def finance_today(now: datetime) -> date:
    return now.astimezone(finance_zone()).date()


def last_closed_period(now: datetime) -> Period:
    """The month before the one `now` falls in (finance's calendar)."""
    return Period.containing(finance_today(now).replace(day=1) - timedelta(days=1))


def bill_number(account_id: int, period: Period) -> str:
    return f"BL-{period.start:%Y-%m}-{account_id:06d}"


def close_billing_month(*, now: datetime | None = None) -> list[Bill]:
    """Bill the last finished month for every postpaid account that has not got its bill yet."""
    now = now or timezone.now()
    period = last_closed_period(now)
    billed = Bill.objects.filter(period_start=period.start).values("account_id")
    pending = (
        Account.objects.filter(type=Account.Type.POSTPAID)
        .exclude(pk__in=billed)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    bills = []
    for account_id in list(pending):  # a plain list: no server-side cursor held across the closes (PgBouncer)
        bill = close_account_period(account_id=account_id, period=period, now=now)
        if bill is not None:
            bills.append(bill)
    return bills


def close_account_period(*, account_id: int, period: Period, now: datetime | None = None) -> Bill | None:
    """The account's bill for `period`: the existing one, a new one, or None when nothing was used."""
    now = now or timezone.now()
    try:
        with transaction.atomic():
            return _close(account_id, period, now)
    except IntegrityError:
        # Where row locks are not real (SQLite), a racing close got there first.
        existing = Bill.objects.filter(account_id=account_id, period_start=period.start).first()
        if existing is None:
            raise
        return existing


def unbilled_usage(account: Account):
    """The account's usage charges no bill holds yet, from when it became postpaid: usage before it was paid
    from the prepaid balance (an account switched at zero had been billed for it again; found by a helper)."""
    charges = UsageCharge.objects.filter(account=account, bill_charge__isnull=True)
    return charges if account.postpaid_since is None else charges.filter(created_at__gte=account.postpaid_since)


def refuse_leaving_with_bills(account: Account, kind: str) -> None:
    """A postpaid account leaves postpaid once its usage is billed and its bills are paid (at the month's close its
    credit pays the last bill): turned prepaid in between, that usage was billed nowhere, while the repayment that
    paid it still counted as credit for the next bills (found by a helper). accounts.lifecycle calls it."""
    if account.type != Account.Type.POSTPAID or kind == Account.Type.POSTPAID:
        return
    if unbilled_usage(account).exists() or Bill.objects.filter(account=account, status__in=Bill.OUTSTANDING).exists():
        raise AccountChangeRefused(
            _("%(account)s has usage not billed yet or bills to pay; it can leave postpaid once its bills are paid.")
            % {"account": account.name}
        )


def _close(account_id: int, period: Period, now: datetime) -> Bill | None:
    account = Account.objects.select_for_update().get(pk=account_id)
    existing = Bill.objects.filter(account=account, period_start=period.start).first()
    if existing is not None:
        return existing
    if account.type != Account.Type.POSTPAID:
        return None
    charges = unbilled_usage(account).filter(created_at__lt=period.ends_at)
    groups = list(
        charges.order_by()
        .values("service", "description")
        .annotate(count=Count("pk"), total=Sum("amount"))
        .order_by("service", "description")
    )
    if not groups:
        return None
    currency = account.billing_currency
    total = sum(exact_sum(g["total"]) for g in groups)
    bill = Bill.objects.create(
        account=account,
        number=bill_number(account.pk, period),
        period_start=period.start,
        period_end=period.end,
        amount_due=Money(total, currency),
        amount_paid=Money(0, currency),
        issued_at=now,
        due_on=finance_today(now) + timedelta(days=settings.BILL_PAYMENT_TERMS_DAYS),
    )
    BillLine.objects.bulk_create(
        BillLine(
            bill=bill,
            service=g["service"],
            description=g["description"],
            count=g["count"],
            total=Money(exact_sum(g["total"]), currency),
        )
        for g in groups
    )
    BillCharge.objects.bulk_create(
        BillCharge(bill=bill, usage_charge_id=pk) for pk in list(charges.values_list("pk", flat=True))
    )
    # Credit left over from earlier repayments pays the new bill at once.
    settle_bills(account_id=account.pk, source_ref=f"bill:{bill.pk}", note=describe(CREDIT_FROM_EARLIER), now=now)
    bill.refresh_from_db()
    emit("bill.issued", account_id=account.pk, data=bill_data(bill), now=now)
    logger.info("Issued %s for %s: %s", bill.number, account.name, bill.amount_due)
    return bill
