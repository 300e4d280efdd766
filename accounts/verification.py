"""Re-checking the ledger (`manage.py verify_ledger`, and the tests after every race): each cached
balance against the sum of its entries, each two-entry transfer against zero, and each month's
usage total (accounts.monthly_usage.usage_mismatches) against its charges."""

from decimal import Decimal

from django.db.models import Case, Count, F, Sum, When
from django.db.models.functions import Left, Length
from djmoney.money import Money

from .models import LEDGER_PLACES, Account, LedgerEntry


def ledger_mismatches() -> list[tuple[Account, Money]]:
    """Accounts whose cached balance differs from the sum of their entries, with that sum."""
    sums = dict(
        LedgerEntry.objects.values_list("account_id").annotate(total=Sum("amount")).values_list("account_id", "total")
    )
    mismatches = []
    for account in Account.objects.order_by("pk").iterator(chunk_size=2000):
        # PostgreSQL sums NUMERIC exactly; SQLite sums in floating point, so its total is
        # rounded back to the column's two places before comparing.
        total = Money(Decimal(str(sums.get(account.pk) or 0)).quantize(LEDGER_PLACES), account.balance.currency)
        if total != account.balance:
            mismatches.append((account, total))
    return mismatches


def unbalanced_transfers() -> list[tuple[str, str, Decimal, int]]:
    """Two-entry postings (transfer_funds: "<source>:out" and "<source>:in") that do not sum to
    zero or lack a half: (source, currency, sum, entries) for each. The writer cannot make one;
    this is what verify_ledger re-checks, like the balances."""
    posting = Case(
        When(source_ref__endswith=":out", then=Left("source_ref", Length("source_ref") - 4)),
        When(source_ref__endswith=":in", then=Left("source_ref", Length("source_ref") - 3)),
        default=F("source_ref"),
    )
    groups = (
        LedgerEntry.objects.filter(kind=LedgerEntry.Kind.TRANSFER)
        .annotate(posting=posting)
        .order_by()
        .values("posting", "amount_currency")
        .annotate(total=Sum("amount"), entries=Count("pk"))
        .exclude(total=0, entries=2)
        .order_by("posting")
        .values_list("posting", "amount_currency", "total", "entries")
    )
    # SQLite sums in floating point: rounded back to the ledger's places before judging.
    found = [(p, c, Decimal(str(t)).quantize(LEDGER_PLACES), n) for p, c, t, n in groups]
    return [row for row in found if row[2] != 0 or row[3] != 2]
