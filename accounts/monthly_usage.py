"""What each account has spent on usage in each calendar month, kept as the ledger is written.

Usage is what an enterprise member's monthly budget counts (accounts.budgets), and the member's
every page shows it. Summing the month's usage entries as a page loads costs a scan of all of them:
360,000 for a member metered hourly for 500 resources. So the ledger writer (accounts.ledger) adds
each posting's usage charges to one MonthlyUsage row per account and month, in the posting's own
transaction and under the account lock it already holds: the total is exact whenever the ledger is.

The month is the calendar month in finance's time zone (FINANCE_TIME_ZONE), as bills count it.
`manage.py verify_ledger` re-sums the entries and compares; a changed FINANCE_TIME_ZONE moves the
months' edges, and `recount_usage` rebuilds the rows from the ledger (as the migration did).
"""

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import models
from django.db.models import DateField, Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from billing_center.db import add_rows

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


def usage_by_month(entries=LedgerEntry.objects) -> dict[tuple[int, date], Decimal]:
    """Re-summed from the ledger: (account id, month) → spent, for each month with usage.
    `entries` may be a migration's historical manager."""
    months = (
        entries.filter(kind="usage")
        .annotate(month=TruncMonth("created_at", output_field=DateField(), tzinfo=ZoneInfo(settings.FINANCE_TIME_ZONE)))
        .order_by()
        .values_list("account_id", "month")
        .annotate(total=Sum("amount"))
    )
    # SQLite sums in floating point: rounded back to the ledger's places.
    return {(account_id, month): -Decimal(str(total)).quantize(LEDGER_PLACES) for account_id, month, total in months}


def usage_mismatches() -> list[tuple[int, date, Decimal, Decimal]]:
    """(account id, month, kept, re-summed) wherever the kept total differs from the ledger's."""
    summed = usage_by_month()
    kept = {(a, m): s for a, m, s in MonthlyUsage.objects.values_list("account_id", "month", "spent")}
    keys = sorted(summed.keys() | kept.keys())
    found = [(a, m, kept.get((a, m), Decimal(0)), summed.get((a, m), Decimal(0))) for a, m in keys]
    return [row for row in found if row[2] != row[3]]


def recount_usage(*, entries=LedgerEntry.objects, totals=MonthlyUsage.objects) -> int:
    """Rebuild every month's total from the ledger (a migration passes its historical managers)."""
    totals.all().delete()
    rows = [totals.model(account_id=a, month=m, spent=s) for (a, m), s in usage_by_month(entries).items()]
    totals.bulk_create(rows, batch_size=2000)
    return len(rows)
