"""A debit that takes back a transfer we credited (the payer's bank recalls it, the bank returns it, or
reverses it): our statement's debit under the credited line's reference (at most its amount), or under the
payer's own reference for it (its amount). The money left our account while the customer keeps the credit, so
the debit says which credit it takes back and the customer's account is flagged for finance to reverse it, once
however often the debit is listed. A reversal the bank books again in the same statement is no return: the
credit stands (tickets.statements.identity). It had been listed only, and the money was gone without a word."""

from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.db.models import Q

from accounts.descriptions import TRANSFER_GIVEN_BACK, describe
from accounts.ledger import credit_deposit
from accounts.lifecycle import flag_for_review
from accounts.models import Account, LedgerEntry
from bills.models import REPAYMENT_RETURN
from bills.settlement import settle_bills

from ..models import StatementLine
from ..notes import (
    BOOKED_AGAIN,
    CREDITED_AGAIN,
    RETURNS_CREDIT,
    TRANSFER_BOOKED_AGAIN,
    TRANSFER_CREDITED_AGAIN,
    TRANSFER_RETURNED,
    account_label,
    explain,
)
from .parsed import reference_key, reference_key_of

FALLBACK = "NOREF-"


def note_returns(line_ids: list[int], *, now: datetime, rebooked: set[tuple]) -> int:
    """Note and flag the returns among this import's lines (by id; a debit `rebooked` by its key is none);
    how many were found."""
    with transaction.atomic():
        debits = list(
            StatementLine.objects.select_for_update()
            .filter(pk__in=line_ids, amount__lt=0, state=StatementLine.State.DEBIT)
            .order_by("pk")
        )
        debits = [d for d in debits if (d.bank_reference, d.booking_date, d.amount, d.currency) not in rebooked]
        credits = _credits_for(debits)
        found = 0
        for debit in debits:
            credit = next((line for line in credits if _takes_back(debit, line)), None)
            if credit is None:
                continue
            found += 1
            names = dict(Account.objects.filter(pk=credit.account_id).values_list("pk", "name"))
            account = account_label(credit.account_id, names.get(credit.account_id))
            explain(debit, describe(RETURNS_CREDIT, reference=credit.bank_reference, account=account))
            debit.save(update_fields=["explanation", "explanation_parts"])
            note = describe(
                TRANSFER_RETURNED, debit=debit.bank_reference, amount=-debit.money, date=debit.booking_date,
                reference=credit.bank_reference, credited=credit.money,
            )  # fmt: skip
            if not Account.objects.filter(pk=credit.account_id, review_note__contains=note).exists():
                flag_for_review(account_id=credit.account_id, note=note, now=now)
        return found


def note_booked_again(line_ids: list[int], *, statement, now: datetime) -> int:
    """This import's credits that the bank books again after a debit of an earlier statement took them back
    (a return noted above, then the bank's correction): each is linked to the credit, which stands, and the
    account, flagged to reverse it, is told so. Else finance, following that flag, would have left the customer
    with nothing for money the bank holds (found by a helper). How many were found.

    `statement` is the file just imported: the debits are those of earlier ones."""
    # The debits that took a transfer back are few (noted as such, in English in `explanation`): found first, so a
    # statement's thousands of credits are looked at only under their references.
    debits = list(
        StatementLine.objects.alias(key=reference_key_of("bank_reference"))
        .filter(state=StatementLine.State.DEBIT, explanation__contains=RETURNS_CREDIT.split("%")[0])
        .filter(receiving_account_id=statement.receiving_account_id)
        .exclude(statement_file=statement)
        .only("pk", "receiving_account_id", "bank_reference", "amount", "currency", "booking_date", "explanation_parts")
    )
    if not debits:
        return 0
    credited = (
        StatementLine.objects.alias(key=reference_key_of("bank_reference"))
        .filter(pk__in=line_ids, amount__gt=0, state=StatementLine.State.CREDITED)
        .filter(key__in={reference_key(debit.bank_reference) for debit in debits})
        .values_list("pk", "receiving_account_id", "bank_reference", "amount", "currency", "booking_date")
    )
    wanted = {(bank, reference_key(reference), amount, currency): (pk, day)
              for pk, bank, reference, amount, currency, day in credited}  # fmt: skip
    found = 0
    for debit in debits:
        returned = any(isinstance(part, dict) and part.get("text") == RETURNS_CREDIT
                       for part in debit.explanation_parts or [])  # fmt: skip
        key = (debit.receiving_account_id, reference_key(debit.bank_reference), -debit.amount, debit.currency)
        if not returned or key not in wanted or debit.booking_date > wanted[key][1]:
            continue
        with transaction.atomic():
            StatementLine.objects.select_for_update().filter(pk=debit.pk).first()  # as take_back does, first
            credit = StatementLine.objects.select_for_update().get(pk=wanted.pop(key)[0])
            found += 1
            given = give_back(debit, now=now)
            if given is None:
                explain(credit, describe(BOOKED_AGAIN, returned=debit.booking_date, debit=debit.bank_reference))
            else:
                explain(credit, describe(CREDITED_AGAIN, debit=debit.bank_reference, amount=given.amount))
            credit.save(update_fields=["explanation", "explanation_parts"])
            note = describe(
                TRANSFER_BOOKED_AGAIN if given is None else TRANSFER_CREDITED_AGAIN, reference=credit.bank_reference,
                amount=credit.money, date=credit.booking_date, debit=debit.bank_reference,
            )  # fmt: skip
            if not Account.objects.filter(pk=credit.account_id, review_note__contains=note).exists():
                flag_for_review(account_id=credit.account_id, note=note, now=now)
    return found


def returned_credit(debit: StatementLine) -> StatementLine | None:
    """The credited line a debit of our statement takes back (what note_returns noted), if any."""
    if debit.state != StatementLine.State.DEBIT:
        return None
    return next((line for line in _credits_for([debit]) if _takes_back(debit, line)), None)


def booked_again(debit: StatementLine, credit: StatementLine) -> bool:
    """Whether a statement lists the transfer a debit took back (`credit`) again after the debit, not set aside:
    the credit stands."""
    after = Q(booking_date__gt=debit.booking_date) | Q(booking_date=debit.booking_date, pk__gt=debit.pk)
    return (
        StatementLine.objects.alias(key=reference_key_of("bank_reference"))
        .filter(after, key=reference_key(credit.bank_reference), amount=credit.amount, currency=credit.currency)
        .filter(receiving_account_id=debit.receiving_account_id)
        .exclude(state=StatementLine.State.SET_ASIDE)
        .exclude(pk=credit.pk)
        .exists()
    )


def taken_back_by_others(credit: StatementLine, debit: StatementLine) -> Decimal:
    """What other debits returning the same credit have taken back of it already (two partial returns of one
    transfer; a return listed again under another reference): the credit is taken back once at most."""
    same = Q(key=reference_key(credit.bank_reference))
    if credit.payer_reference:
        same |= Q(payer_reference=credit.payer_reference)
    others = (
        StatementLine.objects.alias(key=reference_key_of("bank_reference"))
        .filter(same, receiving_account_id=debit.receiving_account_id, state=StatementLine.State.DEBIT)
        .exclude(pk=debit.pk)
    )
    returning = [other for other in others if returned_credit(other) == credit]
    sources = [taken_back_source(other, repayment=repayment) for other in returning for repayment in (False, True)]
    taken = LedgerEntry.objects.filter(kind=LedgerEntry.Kind.BANK_RETURN, source_ref__in=sources)
    return -sum((entry.amount.amount for entry in taken), Decimal(0))


def taken_back_source(debit: StatementLine, *, repayment: bool) -> str:
    """The ledger source of a returned transfer's credit taken back: once per debit; a repayment's counts
    against the account's credit for its bills (bills.settlement.REPAID)."""
    return f"{REPAYMENT_RETURN if repayment else 'bank-return:'}{debit.pk}"


def give_back(debit: StatementLine, *, now: datetime) -> LedgerEntry | None:
    """The bank books a transfer again after finance took its credit back (tickets.statements.take_back): the
    credit taken back is credited again, once, and a repayment's settles the bills again. None if nothing was
    taken back for this debit. The caller holds the debit's lock (as take_back does)."""
    sources = [taken_back_source(debit, repayment=repayment) for repayment in (False, True)]
    taken = LedgerEntry.objects.filter(kind=LedgerEntry.Kind.BANK_RETURN, source_ref__in=sources).first()
    if taken is None:
        return None
    repayment = taken.source_ref.startswith(REPAYMENT_RETURN)
    description = describe(TRANSFER_GIVEN_BACK, reference=debit.bank_reference)
    deposit = credit_deposit(
        account_id=taken.account_id,
        amount=-taken.amount,
        kind=LedgerEntry.Kind.REPAYMENT if repayment else LedgerEntry.Kind.BANK_TRANSFER,
        source_ref=f"{taken.source_ref}:booked-again",
        description=description,
        now=now,
    )
    if repayment and not deposit.already_credited:
        settle_bills(account_id=taken.account_id, source_ref=deposit.entry.source_ref, note=description, now=now)
    return deposit.entry


def _credits_for(debits: list[StatementLine]) -> list[StatementLine]:
    if not debits:
        return []
    keys = {reference_key(d.bank_reference) for d in debits if not d.bank_reference.startswith(FALLBACK)}
    payers = {d.payer_reference for d in debits if d.payer_reference}
    if not keys and not payers:
        return []
    return list(
        StatementLine.objects.alias(key=reference_key_of("bank_reference"))
        .filter(Q(key__in=keys) | Q(payer_reference__in=payers))
        .filter(
            receiving_account__in={d.receiving_account_id for d in debits},
            state=StatementLine.State.CREDITED,
            account__isnull=False,
        )
        .order_by("-booking_date", "-pk")
    )


def _takes_back(debit: StatementLine, credit: StatementLine) -> bool:
    if credit.receiving_account_id != debit.receiving_account_id or credit.currency != debit.currency:
        return False
    if credit.booking_date > debit.booking_date:
        return False
    same_reference = not debit.bank_reference.startswith(FALLBACK) and reference_key(
        credit.bank_reference
    ) == reference_key(debit.bank_reference)
    if same_reference:
        return -debit.amount <= credit.amount
    return (
        bool(debit.payer_reference)
        and debit.payer_reference == credit.payer_reference
        and (-debit.amount == credit.amount)
    )
