"""The "ledger peers" row of `make bench`: our ledger writer next to django-hordak's `transfer_to`.

In-process, on the same database and the same connection, one unit of work on both sides: one credit of
10.00 USD to one of 1,000 accounts, in its own transaction. Ours is `accounts.ledger.post_ledger_entry`
crediting an Account (lock the row, insert the entry, update the cached balance); hordak's is
`Account.transfer_to` from one of 1,000 liability accounts to one asset account (a transaction and two
legs, its deferred check_leg trigger at commit): the customer's prepaid credit against the bank. Both open
their own transaction (ours in post_ledger_entries) and are called outside any, so each credit is one
BEGIN … COMMIT, with no savepoint on either side. The repetitions alternate (ours, hordak, ours, …).

django-hordak comes from requirements-bench.txt and is installed by `make bench` only; bench/settings.py
adds its apps, so create_test_db runs its migrations (tables, triggers, views) in the bench database.
"""

import statistics
import time

from djmoney.money import Money

from accounts.ledger import post_ledger_entry
from accounts.models import Account, LedgerEntry
from bench.figures import spread

ACCOUNTS = 1_000
AMOUNT = Money("10.00", "USD")
WARM_UP = 50  # untimed credits on each side first: imports, catalog and buffer caches
DESCRIPTION = "Bench credit"


def credits_per_repetition(args) -> int:
    """2,000 at the default size, 400 with --quick."""
    return 400 if args.quick else 2_000


def ours_rate(accounts: list[Account], count: int, tag: str) -> float:
    started = time.perf_counter()
    for i in range(count):
        post_ledger_entry(
            account_id=accounts[i % len(accounts)].pk,
            amount=AMOUNT,
            kind=LedgerEntry.Kind.ONLINE_TOPUP,
            source_ref=f"bench-peers:{tag}:{i}",
            description=DESCRIPTION,
        )
    return count / (time.perf_counter() - started)


def hordak_rate(bank, customers: list, count: int) -> float:
    started = time.perf_counter()
    for i in range(count):
        customers[i % len(customers)].transfer_to(bank, AMOUNT, description=DESCRIPTION)
    return count / (time.perf_counter() - started)


def hordak_accounts():
    """One asset account (the bank) and ACCOUNTS liability accounts (the customers' prepaid credit)."""
    from hordak.models import Account as HordakAccount
    from hordak.models import AccountType

    currencies = [AMOUNT.currency.code]
    bank = HordakAccount.objects.create(name="Bench bank", code="1000", type=AccountType.asset, currencies=currencies)
    customers = [
        HordakAccount.objects.create(
            name=f"Peer customer {i}", code=f"9{i:04d}", type=AccountType.liability, currencies=currencies
        )
        for i in range(ACCOUNTS)
    ]
    return bank, customers


def ledger_peers(args) -> list[tuple]:
    count = credits_per_repetition(args)
    ours_accounts = Account.objects.bulk_create(
        [Account(name=f"Peer {i}", balance=Money(0, AMOUNT.currency)) for i in range(ACCOUNTS)]
    )
    bank, customers = hordak_accounts()
    ours_rate(ours_accounts, WARM_UP, "warm-up")
    hordak_rate(bank, customers, WARM_UP)
    ours, hordak = [], []
    for rep in range(args.reps):
        ours.append(ours_rate(ours_accounts, count, f"r{rep}"))
        hordak.append(hordak_rate(bank, customers, count))
    _check_balances(ours_accounts, bank, expected=(WARM_UP + args.reps * count) * AMOUNT.amount)
    ratios = [o / h for o, h in zip(ours, hordak, strict=True)]
    return [
        (
            "ledger peers (÷ django-hordak transfer_to)",
            spread(ratios),
            "≥ 1.5",
            f"{statistics.median(ours):,.0f} vs {statistics.median(hordak):,.0f} credits/s, in-process, "
            f"{count:,} × {args.reps} over {ACCOUNTS:,} accounts",
        )
    ]


def _check_balances(ours_accounts: list[Account], bank, *, expected) -> None:
    """Both sides did all the work they were timed for: every credit is in the balances."""
    from django.db.models import Sum

    ours = Account.objects.filter(pk__in=[a.pk for a in ours_accounts]).aggregate(total=Sum("balance"))["total"]
    theirs = bank.get_balance()[AMOUNT.currency.code].amount
    if ours != expected or theirs != expected:
        raise RuntimeError(f"ledger peers: expected {expected} credited on both sides, got {ours} and {theirs}")
