"""The ledger: the only writer of Account.balance, and the one way money comes in.

Every balance change is an immutable LedgerEntry posted here: the account rows are locked
(in id order, so two postings cannot deadlock), each entry records the balance after it,
and the cached balance is updated in the same transaction. The unique (kind, source_ref)
behind it lets a source move money at most once, however often it is delivered.

- credit_deposit: every money-in path (online top-up, bank transfer, and those to come)
  ends here, with one answer for a source already credited; reverse_deposit is its mirror
  for money paid back out of a deposit (a refund, a disputed card payment); credit_deposits
  posts many new sources at once (a bank statement's lines) or nothing.
- transfer_funds: money between two accounts, one posting of two entries summing to zero.
- post_ledger_entries: the writer itself (usage charges post their debits through it).
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import Case, Count, F, Sum, When
from django.db.models.functions import Left, Length
from django.utils import timezone
from djmoney.money import Money

from billing_center.db import insert_new, update_rows
from money.errors import Conflict, CurrencyMismatch, Invalid, Refused

from .alerts import check_alert_after_commit
from .descriptions import parts_of
from .low_balance import refill_after_commit
from .models import LEDGER_PLACES, Account, LedgerEntry
from .outbound_webhooks import money_events

MONEY_IN_KINDS = frozenset(
    {
        LedgerEntry.Kind.ONLINE_TOPUP,
        LedgerEntry.Kind.BANK_TRANSFER,
        LedgerEntry.Kind.DISPUTE_WON,
        LedgerEntry.Kind.REPAYMENT,
    }
)
MONEY_BACK_KINDS = frozenset({LedgerEntry.Kind.REFUND, LedgerEntry.Kind.DISPUTE})


@dataclass(frozen=True)
class NewEntry:
    """One balance change for post_ledger_entries: positive credits, negative debits. A
    description built by accounts.descriptions.describe brings its parts along."""

    account_id: int
    amount: Money
    kind: str
    source_ref: str
    actor: object = None
    description: str = ""


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
    def billing_currency(self) -> str:
        return str(self.balance.currency)


@dataclass(frozen=True)
class Deposit:
    """What credit_deposit did: the entry for the source, and whether it existed already."""

    entry: LedgerEntry
    already_credited: bool = False


def credit_deposit(
    *,
    account_id: int,
    amount: Money,
    kind: str,
    source_ref: str,
    actor=None,
    description: str = "",
    now: datetime | None = None,
) -> Deposit:
    """Credit money that arrived for `source_ref`, once.

    The one policy for a source already credited: its entry is returned with
    already_credited=True and nothing is posted — provided it is the same deposit (account
    and amount); a different one under the same source is a Conflict, never a second credit.
    Callers lock their own source row first (top-up, ticket); the unique source behind the
    writer still refuses a second entry where row locks are not real (SQLite).
    """
    if kind not in MONEY_IN_KINDS:
        raise Invalid(f"{kind} is not a kind of money coming in.", code="not_a_deposit")
    return _post_once(account_id, amount, kind, source_ref, actor, description, now)


def credit_deposits(deposits: list[NewEntry], *, now: datetime | None = None) -> list[LedgerEntry]:
    """Credit many sources that are all new, as one posting (a bank statement's lines).

    All or nothing: if any source was credited before, or comes twice, nothing is posted and
    Conflict(code="source_reused") says so; the caller then credits them one by one through
    credit_deposit, whose policy answers for a source already credited."""
    if any(deposit.kind not in MONEY_IN_KINDS or deposit.amount.amount <= 0 for deposit in deposits):
        raise Invalid("Each deposit must be money coming in, more than zero.", code="not_a_deposit")
    sources = {(deposit.kind, deposit.source_ref) for deposit in deposits}
    if len(sources) != len(deposits):
        raise Conflict("Two deposits share a source.", code="source_reused")
    try:
        with transaction.atomic():
            entries = post_ledger_entries(deposits, now=now)
            money_events.credited(entries)
            return entries
    except IntegrityError:
        posted = LedgerEntry.objects.filter(source_ref__in=[source for _, source in sources])
        if not any((entry.kind, entry.source_ref) in sources for entry in posted):
            raise  # not the sources' uniqueness: a real error
        raise Conflict("A source among these deposits was already posted.", code="source_reused") from None


def reverse_deposit(
    *,
    account_id: int,
    amount: Money,
    kind: str,
    source_ref: str,
    actor=None,
    description: str = "",
    now: datetime | None = None,
) -> Deposit:
    """Debit money that leaves again through the way it came (a refund, a chargeback), once.

    `amount` is positive: what goes back. The same policy as credit_deposit for a source
    already posted. The balance may go below zero: the money has left whatever we think of
    it (finance's override for refunds is checked before the gateway is asked).
    """
    if kind not in MONEY_BACK_KINDS:
        raise Invalid(f"{kind} is not a kind of money paid back.", code="not_a_reversal")
    return _post_once(account_id, -amount, kind, source_ref, actor, description, now)


def _post_once(account_id, amount: Money, kind, source_ref, actor, description, now) -> Deposit:
    """Post one entry for a source, or answer with the entry the source already has."""
    if amount.amount == 0 or (amount.amount < 0) != (kind in MONEY_BACK_KINDS):
        raise Invalid("A deposit or its reversal must be more than zero.", code="zero_amount")
    try:
        with transaction.atomic():
            entry = post_ledger_entry(
                account_id=account_id, amount=amount, kind=kind, source_ref=source_ref, actor=actor,
                description=description, now=now,
            )  # fmt: skip
            money_events.credited([entry])
    except IntegrityError:
        earlier = LedgerEntry.objects.filter(kind=kind, source_ref=source_ref).first()
        if earlier is None:
            raise  # not the source's uniqueness: a real error
        if (earlier.account_id, earlier.amount) != (account_id, amount):
            raise Conflict(
                f"{source_ref} was already posted with {earlier.amount} to account {earlier.account_id}.",
                code="source_reused",
            ) from None
        return Deposit(earlier, already_credited=True)
    return Deposit(entry)


def transfer_funds(
    *,
    from_account_id: int,
    to_account_id: int,
    amount: Money,
    source_ref: str,
    actor=None,
    description: str = "",
    allow_negative: bool = False,
    now: datetime | None = None,
) -> tuple[LedgerEntry, LedgerEntry]:
    """Move `amount` from one account to another: one posting, two entries that sum to zero.

    Both accounts are locked together (id order). Unless allow_negative, the payer's balance
    may not fall below zero. The source is unique per direction, so a repeated transfer
    with the same source_ref is refused by the database, not posted twice.
    """
    if from_account_id == to_account_id:
        raise Invalid("A transfer needs two different accounts.", code="same_account")
    if amount.amount <= 0:
        raise Invalid("A transfer must be more than zero.", code="zero_amount")
    now = now or timezone.now()
    with transaction.atomic():
        locked = lock_accounts([from_account_id, to_account_id])
        payer = locked.get(from_account_id)
        if payer is not None and not allow_negative and payer.balance.amount < amount.amount:
            raise Refused(f"The balance of account {from_account_id} is only {payer.balance}.", code="insufficient")
        debit, credit = post_ledger_entries(
            [
                NewEntry(from_account_id, -amount, LedgerEntry.Kind.TRANSFER, f"{source_ref}:out", actor, description),
                NewEntry(to_account_id, amount, LedgerEntry.Kind.TRANSFER, f"{source_ref}:in", actor, description),
            ],
            now=now,
            locked=locked,
        )
    return debit, credit


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
    """Move `amount` (positive credits, negative debits) into an account's balance."""
    entry = NewEntry(account_id, amount, kind, source_ref, actor, description)
    return post_ledger_entries([entry], now=now)[0]


def lock_accounts(account_ids) -> dict[int, LockedAccount]:
    """Lock the accounts' rows for this transaction, in id order so that two postings
    cannot deadlock, and read what a posting needs."""
    rows = (
        Account.objects.select_for_update()
        .filter(pk__in=sorted(set(account_ids)))
        .order_by("pk")
        .values_list(
            "pk",
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
    )
    return {row[0]: LockedAccount(row[0], Money(row[1], row[2]), *row[3:]) for row in rows}


@transaction.atomic
def post_ledger_entries(
    entries: list[NewEntry], *, now: datetime | None = None, locked: dict[int, LockedAccount] | None = None
) -> list[LedgerEntry]:
    """The only writer of Account.balance: append entries and update the cached balances.

    Every account touched is locked first, once, and each entry's balance_after is computed
    from the committed balance. The alert state follows the balance here: back at or above
    the threshold re-arms the alert, and falling below it while armed hands the check to a
    worker after commit (accounts.alerts).

    A caller that already holds the accounts' locks in this transaction (the batch charge
    service, transfers) passes those rows as `locked`, so they are not locked twice.

    The writes are plain SQL (billing_center.db.insert_new, _write_balances): through the
    ORM, building and preparing the statements cost more than PostgreSQL's own work.
    """
    if not entries:
        return []
    now = now or timezone.now()
    if timezone.is_naive(now):
        raise ValueError("post_ledger_entries needs an aware datetime.")
    account_ids = sorted({entry.account_id for entry in entries})
    accounts = lock_accounts(account_ids) if locked is None else {pk: locked[pk] for pk in account_ids if pk in locked}
    missing = set(account_ids) - set(accounts)
    if missing:
        raise Account.DoesNotExist(f"No account {min(missing)}.")
    balances = {pk: account.balance for pk, account in accounts.items()}
    created = []
    for entry in entries:
        account = accounts[entry.account_id]
        if entry.amount.amount == 0:
            raise Invalid("A ledger entry cannot be zero.", code="zero_amount")
        if entry.amount.amount != entry.amount.amount.quantize(LEDGER_PLACES):
            # The columns hold two places: the database would round each value on its own,
            # and an account's entries would no longer add up to its balance.
            raise Invalid(
                f"{entry.amount.amount} has more decimal places than the ledger keeps (two).", code="amount_places"
            )
        if entry.amount.currency != account.balance.currency:
            raise CurrencyMismatch(
                f"Account {account.pk} is billed in {account.balance.currency}; "
                f"an entry in {entry.amount.currency} cannot be posted."
            )
        balances[account.pk] = balances[account.pk] + entry.amount
        created.append(
            LedgerEntry(
                account_id=account.pk,
                amount=entry.amount,
                kind=entry.kind,
                source_ref=entry.source_ref,
                actor=entry.actor,
                description=entry.description[:300],
                description_parts=parts_of(entry.description),
                balance_after=balances[account.pk],
                created_at=now,
            )
        )
    insert_new(created, key=("kind", "source_ref"))
    for pk, account in accounts.items():
        _follow_balance(account, balances[pk])
    _write_balances(list(accounts.values()))
    return created


def _write_balances(accounts: list[LockedAccount]) -> None:
    """Store the new balances and alert state of locked rows: one statement per batch on
    PostgreSQL (billing_center.db.update_rows; Django's bulk_update builds a CASE per row,
    which costs more than the whole rest of a 1,000-charge batch), one per account elsewhere."""
    update_rows(
        Account,
        ["balance", "alert_armed", "refill_armed", "refill_crossings"],
        [(a.balance.amount, a.alert_armed, a.refill_armed, a.refill_crossings, a.pk) for a in accounts],
    )


def _follow_balance(account: LockedAccount, after: Money) -> None:
    """Set the new balance on the locked row, and the alert and refill state that follow from it:
    at or above a threshold re-arms it; falling below it while armed disarms it and hands the
    account to a worker after commit — once per crossing, since the row is locked."""
    account.balance = after
    if account.refill_below is not None:
        if after.amount >= account.refill_below:
            account.refill_armed = True
        elif account.refill_armed:
            account.refill_armed, account.refill_crossings = False, account.refill_crossings + 1
            refill_after_commit(account.pk)
    threshold = account.alert_threshold
    if threshold is None:
        return
    if after.amount >= threshold:
        if not account.alert_armed:
            money_events.recovered(account.pk, after, Money(threshold, after.currency))
        account.alert_armed = True
    elif account.alert_enabled and account.alert_armed:
        check_alert_after_commit(account.pk)


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
