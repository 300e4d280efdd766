"""Monthly budgets of enterprise members: the master sets how much a member may spend in a month.

Usage beyond the budget is never stopped (a member's charges post like anyone's: the meter
has already run) but flagged to the master. The Enterprise page compares each member's
spending with its budget as it loads. The periodic sweep (flag_budget_overruns) marks a member
found over its budget for the month (Account.budget_exceeded_month, which the master's Overview
counts without summing anyone's usage) and e-mails the master's users once per member and month
through the outbox. "Spending" is usage charges; the month is the calendar month in finance's
time zone, as bills count it.
"""

from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import DecimalField, F, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from djmoney.money import Money

from money.formatting import format_money

from .models import LEDGER_PLACES, Account
from .monthly_usage import MonthlyUsage, month_start
from .notifications import queue_email, recipient_language


def spending_in_month(start: datetime):
    """An account's usage charges in the month that starts at `start` (month_start), as a positive
    amount: an expression for annotate(), one read of the month's running total per row
    (accounts.monthly_usage), however many charges the month holds."""
    total = MonthlyUsage.objects.filter(account=OuterRef("pk"), month=start.date()).values("spent")[:1]
    return Coalesce(Subquery(total), Value(Decimal(0), output_field=DecimalField(max_digits=18, decimal_places=2)))


def with_spending(accounts, *, month: datetime):
    """Annotate accounts with `spent`, their usage in the month that starts at `month`."""
    return accounts.annotate(spent=spending_in_month(month))


def spent(account) -> Decimal:
    """An annotated account's spending, at the ledger's two places (SQLite sums in floating point)."""
    return Decimal(str(account.spent)).quantize(LEDGER_PLACES)


def is_over_budget(account) -> bool:
    return account.monthly_budget is not None and spent(account) > account.monthly_budget


def flag_budget_overruns(*, now: datetime | None = None) -> int:
    """The sweep: mark each member over its budget this month and e-mail its master's users,
    once per member and month. The mark is a conditional update, so two sweeps at once flag
    (and e-mail) a member once; the outbox's dedupe key (member, month, address) holds even
    after the master changes the budget, which clears the mark. Returns the members marked."""
    now = now or timezone.now()
    start = month_start(now)
    members = with_spending(
        Account.objects.filter(type=Account.Type.ENTERPRISE_MEMBER, monthly_budget__isnull=False).exclude(
            budget_exceeded_month=start.date()
        ),
        month=start,
    ).filter(spent__gt=F("monthly_budget"))
    flagged = 0
    for member in members.select_related("enterprise_master").order_by("pk"):
        if not is_over_budget(member):
            continue
        with transaction.atomic():
            marked = (
                Account.objects.filter(pk=member.pk)
                .exclude(budget_exceeded_month=start.date())
                .update(budget_exceeded_month=start.date())
            )
            if not marked:
                continue  # another sweep was first
            master = member.enterprise_master
            for user in master.users.filter(is_active=True).exclude(email="").order_by("pk"):
                with recipient_language(user):
                    subject = _("%(member)s is over its monthly budget") % {"member": member.name[:120]}
                    body = overrun_text(member, master, month=start)
                queue_email(
                    dedupe_key=f"budget:{member.pk}:{start:%Y-%m}:{user.email.lower()}",
                    to=user.email,
                    subject=subject,
                    body=body,
                    account=master,
                )
        flagged += 1
    return flagged


def overrun_text(member: Account, master: Account, *, month: datetime) -> str:
    """In the active language: the caller picks the recipient's (notifications.recipient_language)."""
    currency = member.billing_currency
    return _(
        "%(member)s, a member account of %(master)s, has spent %(spent)s in %(month)s, more than its monthly "
        "budget of %(budget)s. Its usage is not stopped. See it, allocate or reclaim funds, or change the budget "
        "on the Enterprise page: %(url)s"
    ) % {
        "member": member.name,
        "master": master.name,
        "spent": format_money(Money(spent(member), currency)),
        "month": date_format(month, "YEAR_MONTH_FORMAT"),
        "budget": format_money(Money(member.monthly_budget, currency)),
        "url": f"{settings.SITE_URL}{reverse('accounts:enterprise')}",
    }
