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
- post_ledger_entries: the writer itself; post_ledger_rows the same writer answering ids and
  balances instead of LedgerEntry instances (usage charges post their debits through it).
  A posting's usage charges are added to their account's month (accounts.monthly_usage) in
  the same transaction.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone
from djmoney.money import Money

from billing_center.db import insert_rows, mark_saved
from money.errors import Conflict, CurrencyMismatch, Invalid, Refused

from .alerts import check_alert_after_commit
from .balances import LockedAccount, lock_accounts, post_entry, write_balances
from .descriptions import parts_of
from .low_balance import refill_after_commit
from .models import LEDGER_PLACES, MONEY_IN, Account, LedgerEntry
from .monthly_usage import count_usage
from .outbound_webhooks import money_events

MONEY_IN_KINDS = frozenset(LedgerEntry.Kind(kind) for kind in MONEY_IN)  # one money-in per source
# A customer's payment to a prepaid account; to a postpaid one it is a repayment (bills.settlement.credit_payment).
PAYMENT_KINDS = frozenset({LedgerEntry.Kind.ONLINE_TOPUP, LedgerEntry.Kind.BANK_TRANSFER})
MONEY_BACK_KINDS = frozenset({LedgerEntry.Kind.REFUND, LedgerEntry.Kind.DISPUTE, LedgerEntry.Kind.BANK_RETURN})
# The columns a posting of several entries writes, by attname (billing_center.db.insert_rows).
ENTRY_FIELDS = (
    "account_id", "amount", "amount_currency", "kind", "source_ref", "description", "description_parts", "actor_id",
    "balance_after", "balance_after_currency", "created_at",
)  # fmt: skip


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


@dataclass(frozen=True, slots=True)
class Posted:
    """One entry written by post_ledger_rows: its id and the account's balance after it."""

    id: int
    balance_after: Money


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
    credit_deposit, whose policy answers for a source already credited. A payment to a postpaid
    account is refused the same way (code="repayment"): credited alone, it repays bills."""
    if any(deposit.kind not in MONEY_IN_KINDS or deposit.amount.amount <= 0 for deposit in deposits):
        raise Invalid("Each deposit must be money coming in, more than zero.", code="not_a_deposit")
    sources = {deposit.source_ref for deposit in deposits}
    if len(sources) != len(deposits):
        raise Conflict("Two deposits share a source.", code="source_reused")
    try:
        with transaction.atomic():
            locked = lock_accounts(deposit.account_id for deposit in deposits)
            _refuse_payments_credited_alone(deposits)
            entries = _post(deposits, now=now, locked=locked)
            money_events.credited(entries)
            return entries
    except IntegrityError:
        posted = LedgerEntry.objects.filter(source_ref__in=sources, kind__in=MONEY_IN_KINDS)
        if not posted.exists():
            raise  # not the sources' uniqueness: a real error
        raise Conflict("A source among these deposits was already posted.", code="source_reused") from None


def _refuse_payments_credited_alone(deposits: list[NewEntry]) -> None:
    """A postpaid account's payment repays its bills (bills.settlement.credit_payment), and an enterprise member's
    waits for finance, each on its own: a batch refuses one, read under the accounts' locks (its caller had read the
    type before them: an account turned postpaid meanwhile had been credited a top-up its bills never counted, one
    turned a member a payment its master could take; found by helpers)."""
    paying = {deposit.account_id for deposit in deposits if deposit.kind in PAYMENT_KINDS}
    alone = (Account.Type.POSTPAID, Account.Type.ENTERPRISE_MEMBER)
    types = set(Account.objects.filter(pk__in=paying, type__in=alone).values_list("type", flat=True))
    if Account.Type.POSTPAID in types:
        raise Conflict("A postpaid account's payment is a repayment, credited on its own.", code="repayment")
    if types:
        raise Conflict("An enterprise member's payment waits for finance, on its own.", code="member")


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
            (entry,) = _post([NewEntry(account_id, amount, kind, source_ref, actor, description)], now=now)
            money_events.credited([entry])
    except IntegrityError:
        same_source = LedgerEntry.objects.filter(source_ref=source_ref)
        kinds = MONEY_IN_KINDS if kind in MONEY_IN_KINDS else {kind}  # money in: once per source, any kind
        earlier = same_source.filter(kind__in=kinds).order_by("pk").first()
        if earlier is None:
            raise  # not the source's uniqueness: a real error
        if (earlier.account_id, earlier.amount, earlier.kind) != (account_id, amount, kind):
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


@transaction.atomic
def post_ledger_entries(
    entries: list[NewEntry], *, now: datetime | None = None, locked: dict[int, LockedAccount] | None = None
) -> list[LedgerEntry]:
    """The only writer of Account.balance: append entries and update the cached balances.

    Every account touched is locked first, once, and each entry's balance_after is computed
    from the committed balance. The alert state follows the balance here: back at or above
    the threshold re-arms the alert, and falling below it while armed hands the check to a
    worker after commit (accounts.alerts).

    A caller that already holds the accounts' locks in this transaction (transfers) passes
    those rows as `locked`, so they are not locked twice.

    The writes are plain SQL (accounts.balances.post_entry for one entry; billing_center.db.insert_rows
    and accounts.balances.write_balances for several): through the ORM, building and preparing the
    statements cost more than PostgreSQL's own work.
    """
    return _post(entries, now=now, locked=locked)


@transaction.atomic(savepoint=False)
def post_ledger_rows(
    entries: list[NewEntry], *, locked: dict[int, LockedAccount], now: datetime | None = None
) -> list[Posted]:
    """post_ledger_entries for a batch that needs no LedgerEntry instances back (a thousand usage
    charges: building the instances had cost more than the database's work): each entry's id
    and balance after, in order. The caller holds the accounts' locks (`locked`), and its
    transaction is joined without a savepoint: a refusal rolls all of it back."""
    return _post_rows(entries, now=_aware(now), locked=locked)


def _post(entries: list[NewEntry], *, now: datetime | None, locked: dict | None = None) -> list[LedgerEntry]:
    """post_ledger_entries inside a transaction the caller opened (credit_deposit's own, whose
    rollback on a reused source is all a refusal needs: a nested savepoint would be two more
    round trips for nothing)."""
    if not entries:
        return []
    now = _aware(now)
    if locked is None and len(entries) == 1:
        return [_post_one(entries[0], now)]
    posted = _post_rows(entries, now=now, locked=locked)
    created = [_entry(entry, done.balance_after, now) for entry, done in zip(entries, posted, strict=True)]
    for entry, done in zip(created, posted, strict=True):
        mark_saved(entry, done.id)
    return created


def _post_rows(entries: list[NewEntry], *, now: datetime, locked: dict | None) -> list[Posted]:
    """The writer for a posting of several entries: lock the accounts (unless the caller holds
    them), check each entry, insert the entries as rows with their running balances, then the
    alert and refill state and the cached balances."""
    if not entries:
        return []
    account_ids = sorted({entry.account_id for entry in entries})
    accounts = lock_accounts(account_ids) if locked is None else {pk: locked[pk] for pk in account_ids if pk in locked}
    missing = set(account_ids) - set(accounts)
    if missing:
        raise Account.DoesNotExist(f"No account {min(missing)}.")
    balances = {pk: account.balance.amount for pk, account in accounts.items()}
    rows, after, usage = [], [], defaultdict(Decimal)
    for entry in entries:
        _check_amount(entry.amount)
        account = accounts[entry.account_id]
        currency = str(entry.amount.currency)
        if currency != account.billing_currency:
            raise _wrong_currency(account.pk, account.billing_currency, currency)
        balance = balances[account.pk] = balances[account.pk] + entry.amount.amount
        rows.append(
            (account.pk, entry.amount.amount, currency, entry.kind, entry.source_ref, entry.description[:300],
             parts_of(entry.description), getattr(entry.actor, "pk", None), balance, currency, now)
        )  # fmt: skip
        after.append(Money(balance, currency))
        if entry.kind == LedgerEntry.Kind.USAGE:
            usage[account.pk] += entry.amount.amount
    ids = insert_rows(LedgerEntry, ENTRY_FIELDS, rows, key=("kind", "source_ref"))
    count_usage(usage, now=now)
    for pk, account in accounts.items():
        _follow_balance(account, Money(balances[pk], account.billing_currency))
    write_balances(list(accounts.values()))
    return [Posted(pk, balance) for pk, balance in zip(ids, after, strict=True)]


def _wrong_currency(account_id: int, billed, currency) -> CurrencyMismatch:
    return CurrencyMismatch(f"Account {account_id} is billed in {billed}; an entry in {currency} cannot be posted.")


def _aware(now: datetime | None) -> datetime:
    now = now or timezone.now()
    if timezone.is_naive(now):
        raise ValueError("The ledger needs an aware datetime.")
    return now


def _post_one(new: NewEntry, now: datetime) -> LedgerEntry:
    """A posting of one entry: the account's lock, its new balance and the entry in one statement
    (accounts.balances.post_entry), then the alert and refill state, written only if it moved."""
    _check_amount(new.amount)
    entry = _entry(new, new.amount, now)  # balance_after: set by post_entry
    account = post_entry(entry)
    if account is None:
        billed = Account.objects.filter(pk=new.account_id).values_list("balance_currency", flat=True).first()
        if billed is None:
            raise Account.DoesNotExist(f"No account {new.account_id}.")
        raise _wrong_currency(new.account_id, billed, new.amount.currency)
    if new.kind == LedgerEntry.Kind.USAGE:
        count_usage({new.account_id: new.amount.amount}, now=now)
    stored = account.state
    _follow_balance(account, entry.balance_after)
    if account.state != stored:
        write_balances([account], state_only=True)
    return entry


def _entry(new: NewEntry, balance_after: Money, now: datetime) -> LedgerEntry:
    return LedgerEntry(
        account_id=new.account_id,
        amount=new.amount,
        kind=new.kind,
        source_ref=new.source_ref,
        actor=new.actor,
        description=new.description[:300],
        description_parts=parts_of(new.description),
        balance_after=balance_after,
        created_at=now,
    )


def _check_amount(amount: Money) -> None:
    if amount.amount == 0:
        raise Invalid("A ledger entry cannot be zero.", code="zero_amount")
    if amount.amount != amount.amount.quantize(LEDGER_PLACES):
        # The columns hold two places: the database would round each value on its own,
        # and an account's entries would no longer add up to its balance.
        raise Invalid(f"{amount.amount} has more decimal places than the ledger keeps (two).", code="amount_places")


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
