"""The "ledger peers" and "single ledger credit" rows of `make bench`: our ledger writer next to
django-hordak's `transfer_to`, and next to PostgreSQL's own pace for one client (`pgbench -c 1`).

In-process, on the same database and the same connection, one unit of work on both sides: one credit of
10.00 USD to one of 1,000 accounts, in its own transaction. Ours is `accounts.ledger.post_ledger_entry`
crediting an Account (lock the row, insert the entry, update the cached balance); hordak's is
`Account.transfer_to` from one of 1,000 liability accounts to one asset account (a transaction and two
legs, its deferred check_leg trigger at commit): the customer's prepaid credit against the bank. Both open
their own transaction (ours in post_ledger_entries) and are called outside any, so each credit is one
BEGIN … COMMIT, with no savepoint on either side. The repetitions alternate (ours, hordak, ours, …).

The single-credit row times the same credits against `pgbench -b tpcb-like -c 1` (seven statements a
transaction: BEGIN, three UPDATEs, a SELECT, an INSERT, END), run between the repetitions on the same
database, so both sides see the same disk and load. Its detail also gives `credit_deposit` (the money-in
function: the same posting, the answer for a source credited before, and the `topup.credited` event for
listeners) and hordak against the same pgbench.

django-hordak comes from requirements-bench.txt and is installed by `make bench` only; bench/settings.py
adds its apps, so create_test_db runs its migrations (tables, triggers, views) in the bench database.
"""

import statistics
import time

from djmoney.money import Money

from accounts.ledger import credit_deposit, post_ledger_entry
from accounts.models import Account, LedgerEntry
from bench.figures import database_url, pgbench_tps, spread

ACCOUNTS = 1_000
AMOUNT = Money("10.00", "USD")
WARM_UP = 50  # untimed credits on each side first: imports, catalog and buffer caches
DESCRIPTION = "Bench credit"


def credits_per_repetition(args) -> int:
    """2,000 at the default size, 400 with --quick."""
    return 400 if args.quick else 2_000


def ours_rate(accounts: list[Account], count: int, tag: str, post=post_ledger_entry) -> float:
    started = time.perf_counter()
    for i in range(count):
        post(
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
    ours_rate(ours_accounts, WARM_UP, "warm-up-deposit", credit_deposit)
    hordak_rate(bank, customers, WARM_UP)
    ours, deposits, hordak, single = [], [], [], []
    for rep in range(args.reps):
        single.append(pgbench_tps(database_url(), clients=1, seconds=5))
        ours.append(ours_rate(ours_accounts, count, f"r{rep}"))
        deposits.append(ours_rate(ours_accounts, count, f"deposit-r{rep}", credit_deposit))
        hordak.append(hordak_rate(bank, customers, count))
    each_side = (WARM_UP + args.reps * count) * AMOUNT.amount
    _check_balances(ours_accounts, bank, ours=2 * each_side, theirs=each_side)  # ours: both functions' credits
    ratios = [o / h for o, h in zip(ours, hordak, strict=True)]

    def over_pgbench(rates):
        return statistics.median(r / p for r, p in zip(rates, single, strict=True))

    return [
        (
            "single ledger credit in-process (÷ pgbench -c 1 tpcb-like)",
            spread([o / p for o, p in zip(ours, single, strict=True)]),
            "≥ 1.0",
            f"post_ledger_entry {statistics.median(ours):,.0f}/s vs {statistics.median(single):,.0f} TPS, alternating;"
            f" credit_deposit {over_pgbench(deposits):.2f}, django-hordak {over_pgbench(hordak):.2f}",
        ),
        (
            "ledger peers (÷ django-hordak transfer_to)",
            spread(ratios),
            "≥ 1.5",
            f"{statistics.median(ours):,.0f} vs {statistics.median(hordak):,.0f} credits/s, in-process, "
            f"{count:,} × {args.reps} over {ACCOUNTS:,} accounts",
        ),
    ]


def _check_balances(ours_accounts: list[Account], bank, *, ours, theirs) -> None:
    """Both sides did all the work they were timed for: every credit is in the balances."""
    from django.db.models import Sum

    expected = ours, theirs
    ours = Account.objects.filter(pk__in=[a.pk for a in ours_accounts]).aggregate(total=Sum("balance"))["total"]
    theirs = bank.get_balance()[AMOUNT.currency.code].amount
    if (ours, theirs) != expected:
        raise RuntimeError(f"ledger peers: expected {expected} credited on both sides, got {ours} and {theirs}")
