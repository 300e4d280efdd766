"""A transfer the bank books again after a debit of an earlier statement took it back (a return noted by
statements.returns, then the bank's correction). Each credit line of this import that books again what a debit
took back (its reference, the debit's amount, on or after the debit's day) is paired with the latest such debit:

- finance had taken the credit back (statements.take_back): it is given back, once, and the line is that credit;
- otherwise the line, linked to the credit, says it stands, and the account, flagged to reverse it, is told not to.

Finance following the flag had left the customer with nothing for money the bank holds; a second return and
rebooking had been paired with the first debit and never given back; a part returned and booked again could not
be credited at all (found by helpers)."""

from datetime import datetime

from django.db import transaction
from django.db.models import Q

from accounts.descriptions import describe
from accounts.lifecycle import flag_for_review
from accounts.models import Account

from ..models import StatementLine
from ..notes import (
    BOOKED_AGAIN,
    CREDITED_AGAIN,
    RETURNS_CREDIT,
    TRANSFER_BOOKED_AGAIN,
    TRANSFER_CREDITED_AGAIN,
    explain,
)
from .parsed import reference_key, reference_key_of
from .returns import noted_as_return
from .take_back import give_back

REBOOKABLE = (StatementLine.State.CREDITED, StatementLine.State.MATCHED, StatementLine.State.UNMATCHED)


def note_booked_again(line_ids: list[int], *, statement, now: datetime) -> int:
    """Pair this import's credits (by id) with the earlier statements' debits they book again; how many were paired.
    `statement` is the file just imported."""
    # The debits that took a transfer back are few: found first, so a statement's thousands of credits are looked at
    # only under their references.
    debits = [
        debit
        for debit in StatementLine.objects.filter(state=StatementLine.State.DEBIT)
        .filter(Q(returned_line__isnull=False) | Q(explanation__contains=RETURNS_CREDIT.split("%")[0]))
        .filter(receiving_account_id=statement.receiving_account_id)
        .exclude(statement_file=statement)
        if noted_as_return(debit)
    ]
    if not debits:
        return 0
    lines = (
        StatementLine.objects.alias(key=reference_key_of("bank_reference"))
        .filter(pk__in=line_ids, amount__gt=0, state__in=REBOOKABLE)
        .filter(key__in={reference_key(debit.bank_reference) for debit in debits})
        .order_by("booking_date", "pk")
    )
    paired = set()
    for line in lines:
        books_again = [
            debit
            for debit in debits
            if debit.pk not in paired
            and reference_key(debit.bank_reference) == reference_key(line.bank_reference)
            and (-debit.amount, debit.currency) == (line.amount, line.currency)
            and debit.booking_date <= line.booking_date
        ]
        if books_again:
            debit = max(books_again, key=lambda d: (d.booking_date, d.pk))  # the latest return before it
            paired.add(debit.pk)
            _booked_again(debit, line.pk, now=now)
    return len(paired)


def _booked_again(debit: StatementLine, line_id: int, *, now: datetime) -> None:
    with transaction.atomic():
        StatementLine.objects.select_for_update().filter(pk=debit.pk).first()  # as take_back_return, first
        line = StatementLine.objects.select_for_update().get(pk=line_id)
        given = give_back(debit, now=now)
        if given is not None:  # the line is the credit given back
            line.state, line.ledger_entry, line.account_id, line.credited_at = (
                StatementLine.State.CREDITED, given, given.account_id, now,
            )  # fmt: skip
            explain(line, describe(CREDITED_AGAIN, debit=debit.bank_reference, amount=given.amount))
            note = TRANSFER_CREDITED_AGAIN
        elif line.state == StatementLine.State.CREDITED:  # linked to the credit, which stands
            explain(line, describe(BOOKED_AGAIN, returned=debit.booking_date, debit=debit.bank_reference))
            note = TRANSFER_BOOKED_AGAIN
        else:
            return
        line.save(update_fields=["state", "ledger_entry", "account", "credited_at", "explanation", "explanation_parts"])
        words = describe(
            note, reference=line.bank_reference, amount=line.money, date=line.booking_date, debit=debit.bank_reference
        )
        if not Account.objects.filter(pk=line.account_id, review_note__contains=words).exists():
            flag_for_review(account_id=line.account_id, note=words, now=now)
