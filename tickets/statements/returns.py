"""A debit that takes back a transfer we credited (the payer's bank recalls it, the bank returns it, or
reverses it): our statement's debit under the credited line's reference (at most its amount), or under the
payer's own reference for it (its amount). The money left our account while the customer keeps the credit, so
the debit says which credit it takes back and the customer's account is flagged for finance to reverse it, once
however often the debit is listed. A reversal the bank books again in the same statement is no return: the
credit stands (tickets.statements.identity). It had been listed only, and the money was gone without a word."""

from datetime import datetime

from django.db import transaction
from django.db.models import Q

from accounts.descriptions import describe
from accounts.lifecycle import flag_for_review
from accounts.models import Account

from ..models import StatementLine
from ..notes import RETURNS_CREDIT, TRANSFER_RETURNED, account_label, explain
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
        return _note_each(debits, _credits_for(debits), now=now)


def note_returns_of(credit_ids: list[int], *, now: datetime) -> int:
    """The other way round: debits stored before the credit they take back was credited (its statement imported
    after theirs, or the credit waiting for a clerk's confirmation meanwhile) are noted and flagged once it is. Else
    finance confirmed money the bank had already taken back, and nothing said so (found by a helper)."""
    credits = list(StatementLine.objects.filter(pk__in=credit_ids, state=StatementLine.State.CREDITED))
    if not credits:
        return 0
    keys = {reference_key(credit.bank_reference) for credit in credits}
    same = Q(key__in=keys) | Q(payer_reference__in={c.payer_reference for c in credits if c.payer_reference})
    with transaction.atomic():
        debits = list(
            StatementLine.objects.select_for_update()
            .alias(key=reference_key_of("bank_reference"))
            .filter(same, state=StatementLine.State.DEBIT, returned_line__isnull=True)
            .filter(receiving_account__in={credit.receiving_account_id for credit in credits})
            .exclude(explanation__contains=RETURNS_CREDIT.split("%")[0])  # noted before returned_line was kept
            .order_by("pk")
        )
        credits.sort(key=lambda line: (line.booking_date, line.pk), reverse=True)  # the latest credit, as on import
        return _note_each(debits, credits, now=now)


def _note_each(debits: list[StatementLine], credits: list[StatementLine], *, now: datetime) -> int:
    """Note each debit that takes back one of `credits` (the latest first); how many."""
    found = 0
    for debit in debits:
        credit = next((line for line in credits if _takes_back(debit, line)), None)
        if credit is not None:
            found += 1
            _note(debit, credit, now=now)
    return found


def _note(debit: StatementLine, credit: StatementLine, *, now: datetime) -> None:
    """Say on the debit which credit it takes back, keep that line (what a take-back takes: take_back.py), and flag
    the credited account for finance, once however often the debit is listed."""
    names = dict(Account.objects.filter(pk=credit.account_id).values_list("pk", "name"))
    account = account_label(credit.account_id, names.get(credit.account_id))
    explain(debit, describe(RETURNS_CREDIT, reference=credit.bank_reference, account=account))
    debit.returned_line = credit
    debit.save(update_fields=["explanation", "explanation_parts", "returned_line"])
    note = describe(
        TRANSFER_RETURNED, debit=debit.bank_reference, amount=-debit.money, date=debit.booking_date,
        reference=credit.bank_reference, credited=credit.money,
    )  # fmt: skip
    if not Account.objects.filter(pk=credit.account_id, review_note__contains=note).exists():
        flag_for_review(account_id=credit.account_id, note=note, now=now)


def returned_credit(debit: StatementLine) -> StatementLine | None:
    """The credited line a debit of our statement takes back: the one noted on import (`returned_line`), or for a
    debit noted before that was kept, the one it names by the same rule."""
    if debit.state != StatementLine.State.DEBIT:
        return None
    if debit.returned_line_id is not None:
        return debit.returned_line
    return next((line for line in _credits_for([debit]) if _takes_back(debit, line)), None)


def noted_as_return(debit: StatementLine) -> bool:
    """Whether note_returns noted the debit as taking a credit back (before `returned_line` was kept, only in words)."""
    return debit.returned_line_id is not None or any(
        isinstance(part, dict) and part.get("text") == RETURNS_CREDIT for part in debit.explanation_parts or []
    )


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
