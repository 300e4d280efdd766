"""Account rows as the ledger writer holds them: locked for a posting, read without the cost of a
model instance, and written back (accounts.ledger is the only caller that changes a balance).

Two ways to take the lock, one reading: lock_accounts for a posting over several accounts (in id
order, so two postings cannot deadlock: SELECT … FOR UPDATE, then one UPDATE for them all), and
add_to_balance for a posting to one account (the lock and the new balance in one UPDATE …
RETURNING: a single credit is one round trip fewer).
"""

from dataclasses import dataclass
from decimal import Decimal
from functools import cache

from django.db import connection
from djmoney.money import Money

from billing_center.db import update_rows

from .models import LEDGER_PLACES, Account

# What a posting reads of a locked account row (LockedAccount, after its pk), and what it may write
# besides the balance.
LOCKED_FIELDS = (
    "balance",
    "balance_currency",
    "alert_threshold",
    "alert_enabled",
    "alert_armed",
    "refill_below",
    "refill_armed",
    "refill_crossings",
    "credit_limit",
)
STATE_FIELDS = ["alert_armed", "refill_armed", "refill_crossings"]


@dataclass
class LockedAccount:
    """The columns of a locked account row that a posting reads and writes, without the
    cost of a model instance (a batch of charges locks up to a thousand)."""

    pk: int
    balance: Money
    alert_threshold: Decimal | None
    alert_enabled: bool
    alert_armed: bool
    refill_below: Decimal | None = None
    refill_armed: bool = True
    refill_crossings: int = 0
    credit_limit: Decimal | None = None  # postpaid accounts only (accounts.credit_limits)

    @property
    def state(self) -> tuple:
        """The alert and refill state a posting may move (STATE_FIELDS, in order)."""
        return self.alert_armed, self.refill_armed, self.refill_crossings

    @property
    def billing_currency(self) -> str:
        return str(self.balance.currency)


def lock_accounts(account_ids) -> dict[int, LockedAccount]:
    """Lock the accounts' rows for this transaction, in id order so that two postings
    cannot deadlock, and read what a posting needs."""
    rows = (
        Account.objects.select_for_update()
        .filter(pk__in=sorted(set(account_ids)))
        .order_by("pk")
        .values_list("pk", *LOCKED_FIELDS)
    )
    return {row[0]: LockedAccount(row[0], Money(row[1], row[2]), *row[3:]) for row in rows}


def add_to_balance(account_id: int, delta: Decimal) -> LockedAccount | None:
    """Lock one account's row and add `delta` to its balance in one statement (UPDATE …
    RETURNING: the lock and the new balance in one round trip instead of a SELECT … FOR
    UPDATE and an UPDATE). The row comes back as it was before, as lock_accounts reads it;
    None if there is no such account. A posting refused after this rolls it back with the rest.

    ROUND(…, 2) changes nothing on PostgreSQL (the columns are exact); SQLite keeps decimals
    as floating point, and rounding there stores what writing the exact sum stores.
    """
    with connection.cursor() as cursor:
        cursor.execute(_add_sql(), [delta, account_id])
        row = cursor.fetchone()
    if row is None:
        return None
    balance, currency, threshold, enabled, armed, below, refill_armed, crossings, limit = row
    return LockedAccount(
        account_id,
        Money(_decimal(balance) - delta, currency),
        _decimal(threshold),
        bool(enabled),
        bool(armed),
        _decimal(below),
        bool(refill_armed),
        crossings,
        _decimal(limit),
    )


@cache
def _add_sql() -> str:
    """add_to_balance's statement, built once per process."""
    quote = connection.ops.quote_name
    table, pk = quote(Account._meta.db_table), quote(Account._meta.pk.column)
    columns = ", ".join(quote(Account._meta.get_field(name).column) for name in LOCKED_FIELDS)
    return f"UPDATE {table} SET balance = ROUND(balance + %s, 2) WHERE {pk} = %s RETURNING {columns}"


def _decimal(value) -> Decimal | None:
    """A NUMERIC read by raw SQL, as the ORM would give it: PostgreSQL returns a Decimal, SQLite
    a float (its str() is the shortest form that reads back, so two places survive)."""
    if value is None or isinstance(value, Decimal):
        return value
    return Decimal(str(value)).quantize(LEDGER_PLACES)


def write_balances(accounts: list[LockedAccount], *, state_only: bool = False) -> None:
    """Store the new balances and alert state of locked rows: one statement per batch on
    PostgreSQL (billing_center.db.update_rows; Django's bulk_update builds a CASE per row,
    which costs more than the whole rest of a 1,000-charge batch), one per account elsewhere.
    `state_only` when add_to_balance wrote the balance already."""
    if state_only:
        fields, rows = STATE_FIELDS, [(*a.state, a.pk) for a in accounts]
    else:
        fields, rows = ["balance", *STATE_FIELDS], [(a.balance.amount, *a.state, a.pk) for a in accounts]
    update_rows(Account, fields, rows)
