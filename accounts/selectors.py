"""Reads shared by several views, always scoped to one account; and finance's failed-SMS count."""

from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.db.models import Sum
from django.db.models.functions import TruncDate
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext_lazy
from djmoney.money import Money

from .enterprise import with_enterprise_state
from .models import LEDGER_PLACES, Account, LedgerEntry, OutboundSms


def get_account_for_user(user) -> Account:
    """The customer account a signed-in user acts for; staff without one get a 404."""
    if not user.is_authenticated or user.account_id is None:
        raise Http404("This user has no customer account.")
    return with_enterprise_state(Account.objects.select_related("enterprise_master")).get(pk=user.account_id)


def recent_ledger_entries(account: Account, *, limit: int = 10) -> list[LedgerEntry]:
    return list(account.ledger_entries.select_related("actor").order_by("-created_at", "-id")[:limit])


def daily_balances(account: Account, *, days: int = 30, today: date | None = None) -> list[tuple[date, Money]]:
    """The closing balance of each of the last `days` days, oldest first, for the chart.

    Walks back from the current balance through each day's net change, summed by the
    database: one query and at most `days` rows, however many entries the window holds (a
    metered account posts thousands a day).
    """
    tz = timezone.get_current_timezone()
    today = today or timezone.localdate()
    first_day = today - timedelta(days=days - 1)
    window_start = timezone.make_aware(datetime.combine(first_day, time.min), tz)
    sums = (
        account.ledger_entries.filter(created_at__gte=window_start)
        .annotate(day=TruncDate("created_at", tzinfo=tz))
        .order_by()
        .values("day")
        .annotate(change=Sum("amount"))
        .values_list("day", "change")
    )
    # PostgreSQL sums NUMERIC exactly; SQLite in floating point, so back to the ledger's places.
    change_by_day = {day: Decimal(change).quantize(LEDGER_PLACES) for day, change in sums}
    closing = account.balance.amount
    points = []
    for offset in range(days):
        day = today - timedelta(days=offset)
        points.append((day, Money(closing, account.balance.currency)))
        closing -= change_by_day.get(day, 0)
    points.reverse()
    return points


def filter_ledger_entries(account: Account, filters: dict):
    """The statement: an account's entries, newest first, by type and inclusive local date range."""
    entries = account.ledger_entries.order_by("-created_at", "-id")
    if filters.get("kind"):
        entries = entries.filter(kind=filters["kind"])
    return within_days(entries, filters.get("date_from"), filters.get("date_to"))


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


def failed_sms(*, now: datetime, within: str = "7d"):
    """Alert and confirmation texts the provider would not take, written within the window."""
    return created_within(OutboundSms.objects.filter(status=OutboundSms.Status.FAILED), now=now, within=within)
