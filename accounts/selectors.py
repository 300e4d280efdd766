"""Reads shared by several views, always scoped to one account; and finance's failed-SMS count."""

from datetime import date, datetime, time, timedelta
from decimal import Decimal
from functools import lru_cache

from django.db import connection
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext_lazy
from djmoney.money import Money

from billing_center.keyset import Keyset

from .enterprise import with_enterprise_state
from .models import LEDGER_PLACES, Account, LedgerEntry, OutboundSms
from .monthly_usage import month_start


def acts_for(user, account_id: int | None) -> bool:
    """Whether `user` acts for the account, or for one its money moves to without finance: their own, its enterprise
    master, or one of its members (a master allocates to and reclaims from its members). Finance's rule that nobody
    credits their own account: a clerk whose account is a master had credited a member's transfer alone, then
    reclaimed it (found by a helper)."""
    own = getattr(user, "account_id", None)
    if not own or not account_id:
        return False
    if own == account_id:
        return True
    pair = Account.objects.filter(pk__in=(own, account_id)).values_list("pk", "enterprise_master_id")
    masters = dict(pair)
    return masters.get(account_id) == own or masters.get(own) == account_id


def get_account_for_user(user) -> Account:
    """The customer account a signed-in user acts for; staff without one get a 404."""
    if not user.is_authenticated or user.account_id is None:
        raise Http404("This user has no customer account.")
    return _accounts_with_enterprise_state(month_start()).get(pk=user.account_id)


@lru_cache(maxsize=4)
def _accounts_with_enterprise_state(month: datetime):
    """The query every customer page starts with, built once a month (per process and finance
    time zone): building its three subqueries cost twice what the database takes to answer it.
    Each request clones it (QuerySet.get), so the shared one is never changed or evaluated."""
    return with_enterprise_state(Account.objects.select_related("enterprise_master"), now=month)


def recent_ledger_entries(account: Account, *, limit: int = 10) -> list[LedgerEntry]:
    return list(account.ledger_entries.order_by("-created_at", "-id")[:limit])


def daily_balances(account: Account, *, days: int = 30, today: date | None = None) -> list[tuple[date, Money]]:
    """The closing balance of each of the last `days` days, oldest first, for the chart.

    A day closes at the balance after its last entry (the `balance_after` the statement shows
    for it); a day without entries keeps the one before, and before the first entry it is zero.
    Each day is one read of the ledger's (account, -created_at, -id) index, all in one query:
    the same few reads whether the window holds ten entries or the 360,000 of a metered account.
    Days are the reader's (the active time zone).
    """
    tz = timezone.get_current_timezone()
    today = today or timezone.localdate()
    day_list = [today - timedelta(days=offset) for offset in range(days - 1, -1, -1)]
    day_ends = [timezone.make_aware(datetime.combine(day + timedelta(days=1), time.min), tz) for day in day_list]
    table, ops = connection.ops.quote_name(LedgerEntry._meta.db_table), connection.ops
    # A VALUES list of the days, each with a correlated LIMIT 1: planned once, run per day, on
    # PostgreSQL and SQLite alike (the ORM would plan one subquery per day).
    closing = (
        f"SELECT column1, (SELECT balance_after FROM {table} WHERE account_id = %s AND created_at < days.column2 "
        f"ORDER BY created_at DESC, id DESC LIMIT 1) FROM (VALUES {', '.join(['(%s, %s)'] * days)}) AS days"
    )
    params = [account.pk] + [p for n, end in enumerate(day_ends) for p in (n, ops.adapt_datetimefield_value(end))]
    with connection.cursor() as cursor:
        cursor.execute(closing, params)
        found = dict(cursor.fetchall())
    currency = account.balance.currency
    # SQLite hands NUMERIC back as a float: through str to the ledger's two places.
    return [
        (day, Money(Decimal(str(found.get(n) or 0)).quantize(LEDGER_PLACES), currency))
        for n, day in enumerate(day_list)
    ]


def statement_entries(account: Account, filters: dict) -> Keyset:
    """The statement: an account's entries, newest first, by type and inclusive local date range,
    read a page at a time (billing_center.keyset) down the ledger's (account[, kind], -created_at,
    -id) indexes."""
    entries = account.ledger_entries.all()
    if filters.get("kind"):
        entries = entries.filter(kind=filters["kind"])
    return Keyset(within_days(entries, filters.get("date_from"), filters.get("date_to")))


def within_days(queryset, first_day: date | None, last_day: date | None, field: str = "created_at"):
    """Rows whose `field` falls on first_day..last_day inclusive, in the site's time zone."""
    tz = timezone.get_current_timezone()
    if first_day:
        queryset = queryset.filter(**{f"{field}__gte": timezone.make_aware(datetime.combine(first_day, time.min), tz)})
    if last_day:
        end = timezone.make_aware(datetime.combine(last_day + timedelta(days=1), time.min), tz)
        queryset = queryset.filter(**{f"{field}__lt": end})
    return queryset


# Windows finance can look back over in the SMS log (its filter and the admin home use the same).
RECENT = {
    "24h": (gettext_lazy("Last 24 hours"), timedelta(hours=24)),
    "7d": (gettext_lazy("Last 7 days"), timedelta(days=7)),
}


def created_within(queryset, *, now: datetime, within: str):
    return queryset.filter(created_at__gte=now - RECENT[within][1])


def flagged_accounts():
    """Accounts flagged for finance: a disputed card payment, a credit limit passed."""
    return Account.objects.filter(needs_review=True)


def failed_sms(*, now: datetime, within: str = "7d"):
    """Alert and confirmation texts the provider would not take, written within the window."""
    return created_within(OutboundSms.objects.filter(status=OutboundSms.Status.FAILED), now=now, within=within)
