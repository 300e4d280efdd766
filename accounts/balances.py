"""Account rows as the ledger writer holds them: locked for a posting, read without the cost of a
model instance, and written back (accounts.ledger is the only caller that changes a balance).

Two ways to take the lock, one reading: lock_accounts for a posting of several entries (the accounts
in id order, so two postings cannot deadlock: SELECT … FOR UPDATE, then one UPDATE for them all), and
post_entry for a posting of one entry (the lock, the new balance and the entry in one statement on
PostgreSQL: a single credit is BEGIN, that statement and COMMIT).
"""

from dataclasses import dataclass
from decimal import Decimal
from functools import cache

from django.db import connection
from djmoney.money import Money

from billing_center.db import mark_saved, placeholder, row_of, update_rows

from .models import LEDGER_PLACES, Account, LedgerEntry

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


def post_entry(entry: LedgerEntry) -> LockedAccount | None:
    """Post one unsaved entry: lock its account, add the entry's amount to the balance, and insert
    the entry with that balance as its balance_after. The row comes back as it was before, as
    lock_accounts reads it (the entry gets its id and balance_after); None, with nothing written,
    if there is no such account or it is billed in another currency. A posting refused after
    this rolls it back with the rest.

    On PostgreSQL this is one statement (UPDATE … RETURNING and INSERT … SELECT in one WITH): a
    single credit is BEGIN, this and COMMIT. SQLite, which takes no UPDATE inside a WITH, runs
    the two statements, the entry's balance_after read back from the account row.

    ROUND(…, 2) changes nothing on PostgreSQL (the columns are exact); SQLite keeps decimals
    as floating point, and rounding there stores what writing the exact sum stores.
    """
    delta, currency = entry.amount.amount, str(entry.amount.currency)
    row = row_of(entry)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(_post_sql(), [delta, entry.account_id, currency, *_entry_values(row)])
            found = cursor.fetchone()
            if found is None:
                return None
            entry_id, locked = found[0], found[1:]
        else:
            cursor.execute(_add_sql(), [delta, entry.account_id, currency])
            locked = cursor.fetchone()
            if locked is None:
                return None
            row[_column("balance_after")] = locked[0]
            cursor.execute(_insert_sql(), list(row.values()))
            entry_id = cursor.fetchone()[0]
    mark_saved(entry, entry_id)
    account = _locked(entry.account_id, locked, delta)
    entry.balance_after = Money(account.balance.amount + delta, currency)
    return account


def _locked(account_id: int, row, delta: Decimal) -> LockedAccount:
    """The account as it was before `delta` was added, from the row the UPDATE returned."""
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


def _column(name: str, model=LedgerEntry) -> str:
    return model._meta.get_field(name).column


def _entry_values(row: dict) -> list:
    """The entry's values for _post_sql's SELECT list: every column but balance_after's amount."""
    skip = _column("balance_after")
    return [value for column, value in row.items() if column != skip]


@cache
def _add_sql() -> str:
    """The account's lock and new balance in one UPDATE … RETURNING, built once per process."""
    quote = connection.ops.quote_name
    table, pk = quote(Account._meta.db_table), quote(Account._meta.pk.column)
    columns = ", ".join(quote(_column(name, Account)) for name in LOCKED_FIELDS)
    return (
        f"UPDATE {table} SET balance = ROUND(balance + %s, 2) WHERE {pk} = %s AND balance_currency = %s "
        f"RETURNING {columns}"
    )


def _entry_fields() -> list:
    """The entry's columns in row_of's order: every concrete field but the primary key."""
    return [field for field in LedgerEntry._meta.concrete_fields if not field.primary_key]


@cache
def _insert_sql() -> str:
    """The entry's INSERT … RETURNING its id (SQLite's second statement), built once per process."""
    quote = connection.ops.quote_name
    fields = _entry_fields()
    columns, marks = ", ".join(quote(f.column) for f in fields), ", ".join(["%s"] * len(fields))
    table, pk = quote(LedgerEntry._meta.db_table), quote(LedgerEntry._meta.pk.column)
    return f"INSERT INTO {table} ({columns}) VALUES ({marks}) RETURNING {pk}"


@cache
def _post_sql() -> str:
    """post_entry's one statement on PostgreSQL, built once per process: the account's UPDATE …
    RETURNING, then the entry's INSERT … SELECT from its row (balance_after from the new balance;
    no row, nothing inserted), answering the entry's id and the account's locked columns."""
    quote = connection.ops.quote_name
    fields, skip = _entry_fields(), _column("balance_after")
    values = ", ".join("changed.balance" if field.column == skip else placeholder(field) for field in fields)
    table, pk = quote(LedgerEntry._meta.db_table), quote(LedgerEntry._meta.pk.column)
    columns = ", ".join(quote(field.column) for field in fields)
    locked = ", ".join(f"changed.{quote(_column(name, Account))}" for name in LOCKED_FIELDS)
    return (
        f"WITH changed AS ({_add_sql()}), "
        f"posted AS (INSERT INTO {table} ({columns}) SELECT {values} FROM changed RETURNING {pk}) "
        f"SELECT posted.{pk}, {locked} FROM posted, changed"
    )


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
    `state_only` when post_entry wrote the balance already."""
    if state_only:
        fields, rows = STATE_FIELDS, [(*a.state, a.pk) for a in accounts]
    else:
        fields, rows = ["balance", *STATE_FIELDS], [(a.balance.amount, *a.state, a.pk) for a in accounts]
    update_rows(Account, fields, rows)
