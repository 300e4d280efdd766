"""Repayments and what they pay: a repayment is credited once, through the one money-in
function (accounts.ledger.credit_deposit, kind repayment), and settles bills in the same
transaction.

The account's repaid money not yet applied to a bill is its credit: the sum of its repayment
entries (less what disputes took back, plus what won disputes returned) less the sum of its
settlements. A chargeback of a repayment takes its credit first and then what its bills were
paid with (reopen_settled): those bills are unpaid again, and what is paid next settles them.
settle_bills applies that credit to the outstanding
bills, the ones the customer chose first, then the oldest first; what is left stays as credit
until the next bill is issued (bills.cycle calls settle_bills then). Because the credit is
computed from those two sums under the account's row lock, settling again, or twice at once,
applies nothing twice.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _
from djmoney.money import Money

from accounts.descriptions import KEPT_AS_CREDIT, SETTLES, describe, parts_of
from accounts.ledger import Deposit, credit_deposit
from accounts.models import LEDGER_PLACES, Account, LedgerEntry
from money.errors import Refused

from .models import REPAYMENT_CHARGEBACK, REPAYMENT_RETURN, Bill, Settlement


@dataclass(frozen=True)
class Repayment:
    """What repay did: the ledger credit (or the one the source already had), and the settlements."""

    deposit: Deposit
    settlements: list[Settlement]


def repay(
    *,
    account_id: int,
    amount: Money,
    source_ref: str,
    actor=None,
    description: str = "",
    bill_ids: Iterable[int] = (),
    now: datetime | None = None,
) -> Repayment:
    """Credit a repayment of a postpaid account once and settle bills with it, the chosen `bill_ids` first.

    The caller has locked its own source row (the top-up, the ticket). A source already
    credited answers with its entry and settles nothing new. Refused for an account that is not
    postpaid: its bills would count money it spends as its balance (credit_payment decides).
    """
    now = now or timezone.now()
    with transaction.atomic():
        currency, account_type = _lock_account(account_id)
        if account_type != Account.Type.POSTPAID:
            raise Refused(_("Only a postpaid account repays bills."), code="not_postpaid")
        plan = []
        if str(amount.currency) == currency:  # otherwise credit_deposit refuses it below
            plan = _plan(account_id, unapplied_credit(account_id, currency) + amount, bill_ids)
        # The entry names what it settles, so the statement shows it.
        settles = ", ".join(bill.number for bill, _part in plan)
        deposit = credit_deposit(
            account_id=account_id,
            amount=amount,
            kind=LedgerEntry.Kind.REPAYMENT,
            source_ref=source_ref,
            actor=actor,
            description=describe(SETTLES, payment=description, bills=settles)
            if settles
            else describe(KEPT_AS_CREDIT, payment=description),
            now=now,
        )
        if deposit.already_credited:
            return Repayment(deposit, [])
        settlements = _apply(plan, source_ref=source_ref, note=description, now=now)
    return Repayment(deposit, settlements)


def credit_payment(
    *,
    kind: str,
    account_id: int,
    amount: Money,
    source_ref: str,
    actor=None,
    description: str = "",
    repayment_description: str = "",
    bill_ids: Iterable[int] = (),
    now: datetime | None = None,
) -> Deposit:
    """Where a payment's money goes in, decided by the account's type under its row lock, when the money is
    posted: a postpaid account's is a repayment and settles bills (the chosen ones first); any other account's
    is credited as `kind`. Both through credit_deposit. A payer whose words differ for the two (an online
    repayment, an online top-up) gives `repayment_description` too: the entry says what it was credited as.

    Not by what the payment was started as: a repayment paid late, after its account turned prepaid, had stayed
    the bills' credit and paid a later bill with money spent meanwhile; a top-up paid late on an account turned
    postpaid, or a statement line confirmed while its account changed type, had been counted by no bill and
    asked for again (found by a helper)."""
    with transaction.atomic():
        if repays_bills(account_id):
            return repay(
                account_id=account_id,
                amount=amount,
                source_ref=source_ref,
                actor=actor,
                description=repayment_description or description,
                bill_ids=bill_ids,
                now=now,
            ).deposit
        return credit_deposit(
            account_id=account_id,
            amount=amount,
            kind=kind,
            source_ref=source_ref,
            actor=actor,
            description=description,
            now=now,
        )


# What counts as repaid: repayments (a bank transfer booked again after its return among them), less their
# chargebacks and returned transfers (negative entries), plus the disputes of them won. A prepaid top-up's
# chargeback is not a repayment's: it is the account's debt, flagged for finance.
REPAID = (
    Q(kind=LedgerEntry.Kind.REPAYMENT)
    | Q(kind__in=(LedgerEntry.Kind.DISPUTE, LedgerEntry.Kind.DISPUTE_WON), source_ref__startswith=REPAYMENT_CHARGEBACK)
    | Q(kind=LedgerEntry.Kind.BANK_RETURN, source_ref__startswith=REPAYMENT_RETURN)
)


def unapplied_credit(account_id: int, currency: str) -> Money:
    """Repaid money not yet applied to a bill."""
    repaid = LedgerEntry.objects.filter(REPAID, account_id=account_id).aggregate(total=Sum("amount"))["total"]
    applied = Settlement.objects.filter(bill__account_id=account_id).aggregate(total=Sum("amount"))["total"]
    return Money(exact_sum(repaid) - exact_sum(applied), currency)


def settle_bills(
    *, account_id: int, source_ref: str, note: str = "", prefer: Iterable[int] = (), now: datetime | None = None
) -> list[Settlement]:
    """Apply the account's credit to its outstanding bills: `prefer` first, then oldest first."""
    now = now or timezone.now()
    with transaction.atomic():
        currency, _type = _lock_account(account_id)
        credit = unapplied_credit(account_id, currency)
        if credit.amount <= 0:
            return []
        return _apply(_plan(account_id, credit, prefer), source_ref=source_ref, note=note, now=now)


def reopen_settled(*, account_id: int, source_ref: str, note: str, now: datetime | None = None) -> list[Settlement]:
    """A repayment's money went back (a chargeback of the card payment, already posted): the account's credit
    is used up first, then what its bills were paid with is taken back, newest bill first, by settlements of
    the opposite sign (`source_ref`, the chargeback's) until nothing is settled with money the account no longer
    has. Those bills are unpaid again (overdue once past their due date). The bill had stayed "paid" and the
    debt was billed nowhere (found by a helper). Called once per chargeback debit, in its transaction."""
    from .cycle import finance_today  # cycle settles bills: imported here, not at the top

    now = now or timezone.now()
    currency, _type = _lock_account(account_id)
    short, reversed_, parts = -unapplied_credit(account_id, currency).amount, [], parts_of(note)
    paid = Bill.objects.select_for_update().filter(account_id=account_id, amount_paid__gt=0)
    for bill in paid.order_by("-period_start", "-pk") if short > 0 else []:
        take = min(short, bill.amount_paid.amount)
        short -= take
        bill.amount_paid -= Money(take, bill.amount_paid.currency)
        bill.status = Bill.Status.OVERDUE if finance_today(now) > bill.due_on else Bill.Status.OPEN
        bill.status = status_after_payment(bill)  # partly paid, or still overdue
        bill.paid_at = None
        bill.save(update_fields=["amount_paid", "status", "paid_at"])
        reversed_.append(Settlement(bill=bill, amount=Money(-take, bill.amount_paid.currency), source_ref=source_ref,
                                    note=note[:300], note_parts=parts, created_at=now))  # fmt: skip
        if short <= 0:
            break
    Settlement.objects.bulk_create(reversed_)
    return reversed_


def repays_bills(account_id: int) -> bool:
    """Whether money the account receives now repays its bills, and money it gives back now comes off what it
    repaid: it is postpaid, read under its row lock, which the caller's transaction keeps until the posting."""
    return _lock_account(account_id)[1] == Account.Type.POSTPAID


def _lock_account(account_id: int) -> tuple[str, str]:
    """The account row first, as every writer of its money does (then its bills); its currency and type."""
    return Account.objects.select_for_update().values_list("balance_currency", "type").get(pk=account_id)


def _plan(account_id: int, credit: Money, prefer: Iterable[int]) -> list[tuple[Bill, Money]]:
    """What `credit` pays of the locked unpaid bills: the chosen first, then oldest first."""
    bills = list(
        Bill.objects.select_for_update()
        .filter(account_id=account_id, status__in=Bill.OUTSTANDING)
        .order_by("period_start", "pk")
    )
    chosen = set(prefer)
    bills.sort(key=lambda bill: bill.pk not in chosen)  # stable: the chosen first, each group oldest first
    plan = []
    for bill in bills:
        if credit.amount <= 0:
            break
        take = min(credit, bill.remaining)
        plan.append((bill, take))
        credit -= take
    return plan


def _apply(plan: list[tuple[Bill, Money]], *, source_ref: str, note: str, now: datetime) -> list[Settlement]:
    settlements, parts = [], parts_of(note)
    for bill, take in plan:
        settlements.append(
            Settlement(bill=bill, amount=take, source_ref=source_ref, note=note[:300], note_parts=parts, created_at=now)
        )
        bill.amount_paid += take
        bill.status = status_after_payment(bill)
        bill.paid_at = now if bill.status == Bill.Status.PAID else None
        bill.save(update_fields=["amount_paid", "status", "paid_at"])
    Settlement.objects.bulk_create(settlements)
    return settlements


def status_after_payment(bill: Bill) -> str:
    if bill.amount_paid >= bill.amount_due:
        return Bill.Status.PAID
    if bill.status == Bill.Status.OVERDUE:
        return Bill.Status.OVERDUE  # still late: part of it is unpaid past its due date
    return Bill.Status.PARTLY_PAID if bill.amount_paid.amount > 0 else Bill.Status.OPEN


def exact_sum(value) -> Decimal:
    """A sum back to the ledger's two places (SQLite sums decimals in floating point)."""
    return Decimal(str(value or 0)).quantize(LEDGER_PLACES)
