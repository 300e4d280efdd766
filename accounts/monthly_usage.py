"""What each account has spent on usage in each calendar month, kept as the ledger is written.

Usage is what an enterprise member's monthly budget counts (accounts.budgets), and the member's
every page shows it. Summing the month's usage entries as a page loads costs a scan of all of them:
360,000 for a member metered hourly for 500 resources. So the ledger writer (accounts.ledger) adds
each posting's usage charges to one MonthlyUsage row per account and month, in the posting's own
transaction and under the account lock it already holds: the total is exact whenever the ledger is.

The month is the calendar month in finance's time zone (FINANCE_TIME_ZONE), as bills count it.
`manage.py verify_ledger` re-sums the entries and compares. `manage.py recount_usage` rebuilds
the rows from the ledger: once after the rollout that brings this in (the previous release, still
serving while the migration counted, posts charges it does not add), and after FINANCE_TIME_ZONE
changes (the months' edges move).
"""

from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import models, transaction
from django.db.models import Case, Max, Min, Sum, Value, When
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from billing_center.db import add_rows

from .balances import lock_accounts
from .models import LEDGER_PLACES, Account, LedgerEntry


class MonthlyUsage(models.Model):
    account = models.ForeignKey(Account, verbose_name=_("account"), on_delete=models.PROTECT, related_name="+")
    month = models.DateField(_("month"))  # its first day, in finance's time zone
    # The month's usage charges as a positive amount, in the account's billing currency.
    spent = models.DecimalField(_("spent"), max_digits=18, decimal_places=2)

    class Meta:
        verbose_name, verbose_name_plural = _("monthly usage"), _("monthly usage")
        constraints = [models.UniqueConstraint(fields=["account", "month"], name="monthly_usage_once_per_month")]

    def __str__(self) -> str:
        return f"{self.account_id} {self.month:%Y-%m}: {self.spent}"


def month_start(now: datetime | None = None) -> datetime:
    """The first instant of the calendar month `now` (default: this moment) falls in, in finance's time zone."""
    local = (now or timezone.now()).astimezone(ZoneInfo(settings.FINANCE_TIME_ZONE))
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def count_usage(charges: dict[int, Decimal], *, now: datetime) -> None:
    """Add a posting's usage charges (per account, as ledger amounts: negative) to their month.
    The caller is the ledger writer, inside the posting's transaction, holding the accounts' locks."""
    if not charges:
        return
    month = month_start(now).date()
    rows = [(account_id, month, -amount) for account_id, amount in sorted(charges.items())]
    add_rows(MonthlyUsage, ("account_id", "month", "spent"), rows, key=("account", "month"), add="spent")


def usage_by_month(account_ids=None) -> dict[tuple[int, date], Decimal]:
    """Re-summed from the ledger: (account id, month) → spent, for each month with usage (of the
    accounts in `account_ids`, or all). The months' edges are month_start's, the writer's own, so
    the database's time zone data cannot put a charge in another month than the writer did."""
    usage = LedgerEntry.objects.filter(kind=LedgerEntry.Kind.USAGE)
    if account_ids is not None:
        usage = usage.filter(account_id__in=account_ids)
    span = usage.aggregate(first=Min("created_at"), last=Max("created_at"))
    if span["first"] is None:
        return {}
    starts = [month_start(span["first"])]
    while (following := month_start(starts[-1] + timedelta(days=32))) <= span["last"]:
        starts.append(following)
    # The latest month the charge is not before: one comparison per month, the newest first.
    month = Case(*(When(created_at__gte=start, then=Value(start.date())) for start in reversed(starts)))
    months = usage.annotate(month=month).order_by().values_list("account_id", "month").annotate(total=Sum("amount"))
    # SQLite sums in floating point: rounded back to the ledger's places.
    return {(account_id, month): -Decimal(str(total)).quantize(LEDGER_PLACES) for account_id, month, total in months}


def usage_mismatches() -> list[tuple[int, date, Decimal, Decimal]]:
    """(account id, month, kept, re-summed) wherever the kept total differs from the ledger's."""
    summed = usage_by_month()
    kept = {(a, m): s for a, m, s in MonthlyUsage.objects.values_list("account_id", "month", "spent")}
    keys = sorted(summed.keys() | kept.keys())
    found = [(a, m, kept.get((a, m), Decimal(0)), summed.get((a, m), Decimal(0))) for a, m in keys]
    return [row for row in found if row[2] != row[3]]


def recount_usage(*, chunk: int = 1000) -> int:
    """Rebuild the totals from the ledger (`manage.py recount_usage`): after a rollout, for what the
    previous release posted after the migration counted, or after FINANCE_TIME_ZONE changed. Each
    chunk of accounts is locked as the writer locks them, so postings that race it wait and then
    add to the rebuilt rows. Returns the months written."""
    with_usage = LedgerEntry.objects.filter(kind=LedgerEntry.Kind.USAGE).values("account_id")
    account_ids = sorted(
        set(with_usage.distinct().values_list("account_id", flat=True))
        | set(MonthlyUsage.objects.values_list("account_id", flat=True))
    )
    written = 0
    for at in range(0, len(account_ids), chunk):
        with transaction.atomic():
            locked = list(lock_accounts(account_ids[at : at + chunk]))
            MonthlyUsage.objects.filter(account_id__in=locked).delete()
            rows = [MonthlyUsage(account_id=a, month=m, spent=s) for (a, m), s in usage_by_month(locked).items()]
            MonthlyUsage.objects.bulk_create(rows)
            written += len(rows)
    return written
