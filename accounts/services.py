"""Every write to accounts and the ledger goes through here."""

from datetime import datetime

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from djmoney.money import Money

from .exceptions import BillingError, CurrencyMismatch
from .models import Account, LedgerEntry


@transaction.atomic
def post_ledger_entry(
    *,
    account_id: int,
    amount: Money,
    kind: str,
    source_ref: str,
    actor=None,
    description: str = "",
    now: datetime | None = None,
) -> LedgerEntry:
    """Move `amount` (positive credits, negative debits) into an account's balance.

    The only writer of Account.balance. The account row is locked first, so the
    balance_after of concurrent entries is always computed from the committed balance;
    the unique (kind, source_ref) behind it refuses a second entry for one source.
    """
    if amount.amount == 0:
        raise BillingError("A ledger entry cannot be zero.", code="zero_amount")
    account = Account.objects.select_for_update().get(pk=account_id)
    if amount.currency != account.balance.currency:
        raise CurrencyMismatch(
            f"{account} is billed in {account.balance.currency}; an entry in {amount.currency} cannot be posted."
        )
    after = account.balance + amount
    entry = LedgerEntry.objects.create(
        account=account,
        amount=amount,
        kind=kind,
        source_ref=source_ref,
        actor=actor,
        description=description[:300],
        balance_after=after,
        created_at=now or timezone.now(),
    )
    Account.objects.filter(pk=account.pk).update(balance=after.amount)
    return entry


def ledger_mismatches() -> list[tuple[Account, Money]]:
    """Accounts whose cached balance differs from the sum of their entries, with that sum."""
    sums = dict(
        LedgerEntry.objects.values_list("account_id").annotate(total=Sum("amount")).values_list("account_id", "total")
    )
    mismatches = []
    for account in Account.objects.order_by("pk").iterator(chunk_size=2000):
        total = Money(sums.get(account.pk) or 0, account.balance.currency)
        if total != account.balance:
            mismatches.append((account, total))
    return mismatches
