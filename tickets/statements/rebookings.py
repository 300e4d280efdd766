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
    NOT_GIVEN_BACK,
    RETURNS_CREDIT,
    TRANSFER_BOOKED_AGAIN,
    TRANSFER_CREDITED_AGAIN,
    explain,
)
from .crediting import may_not_credit, waits_for_a_second_user
from .parsed import reference_key, reference_key_of
from .returns import noted_as_return, returned_credit
from .take_back import give_back, given_back, rebookings_of, taken_back_by

REBOOKABLE = (StatementLine.State.CREDITED, StatementLine.State.MATCHED, StatementLine.State.UNMATCHED)
# What a rebooking dealt with says on it (English text, as every note is stored): nothing more is given through it.
DEALT_WITH = (CREDITED_AGAIN.split("%")[0], BOOKED_AGAIN.split("%")[0])


def _given_back_already(debit: StatementLine) -> bool:
    taken = taken_back_by(debit)
    return taken is not None and given_back(taken) is not None


def note_booked_again(
    line_ids: list[int], *, receiving_account_id: int, actor, now: datetime, confirmed: bool = False
) -> int:
    """Pair credit lines (by id: an import's, a line put back, one confirmed) with the debits they book again, at one
    receiving account; how many lines this changed (given back before, or assigned elsewhere: not changed). The
    debits of the lines' own statement count too (a return and its rebooking in one file). What finance took back
    is given back on the word of `actor` only if they could credit its account alone
    (crediting.waits_for_a_second_user), or `confirmed` the line (crediting.confirm_line: a second finance user
    above the threshold)."""
    # The debits that took a transfer back are few: found first, so a statement's thousands of credits are looked at
    # only under what those transfers are called.
    returns = Q(returned_line__isnull=False) | Q(explanation__contains=RETURNS_CREDIT.split("%")[0])
    debits_here = StatementLine.objects.filter(
        returns, state=StatementLine.State.DEBIT, receiving_account_id=receiving_account_id
    )
    if not debits_here.exists():  # most imports: no return at this account yet, nothing to pair
        return 0
    credits = StatementLine.objects.filter(pk__in=line_ids, amount__gt=0, state__in=REBOOKABLE)
    keys = {reference_key(reference) for reference in credits.values_list("bank_reference", flat=True)}
    if not keys:
        return 0
    # The transfer a debit returned, by its reference; a debit noted before returned_line was kept, by its own.
    names_one = Q(returned_key__in=keys) | Q(returned_line__isnull=True, own_key__in=keys)
    debits = [
        debit
        for debit in debits_here.alias(
            returned_key=reference_key_of("returned_line__bank_reference"), own_key=reference_key_of("bank_reference")
        )
        .filter(names_one)
        .select_related("returned_line")
        if noted_as_return(debit)
    ]
    returned = {debit.pk: returned_credit(debit) for debit in debits}
    returned = {pk: credit for pk, credit in returned.items() if credit is not None}
    if not returned:
        return 0
    candidates = {
        pk: set(
            rebookings_of(debit, returned[pk])
            .filter(pk__in=line_ids, state__in=REBOOKABLE)
            .values_list("pk", flat=True)
        )
        for pk, debit in ((debit.pk, debit) for debit in debits if debit.pk in returned)
    }
    by_line: dict[int, list[StatementLine]] = {}
    for debit in debits:
        for line_id in candidates.get(debit.pk, ()):
            by_line.setdefault(line_id, []).append(debit)
    paired, changed = set(), 0
    for line_id in sorted(by_line):
        unpaired = [debit for debit in by_line[line_id] if debit.pk not in paired]
        if unpaired:
            # The latest return before it whose credit is not given back yet: two equal returns booked again by two
            # statements had both been paired with the latest, and the other was never given back (found by a helper).
            still_out = [debit for debit in unpaired if not _given_back_already(debit)] or unpaired
            debit = max(still_out, key=lambda d: (d.booking_date, d.pk))
            paired.add(debit.pk)
            changed += _booked_again(debit, returned[debit.pk], line_id, actor=actor, now=now, confirmed=confirmed)
    return changed


def _booked_again(
    debit: StatementLine, credit: StatementLine, line_id: int, *, actor, now: datetime, confirmed: bool
) -> bool:
    """Whether the line changed: given back, told its credit stands, or waiting for a finance user."""
    with transaction.atomic():
        StatementLine.objects.select_for_update().filter(pk=debit.pk).first()  # as take_back_return, first
        line = StatementLine.objects.select_for_update().get(pk=line_id)
        if line.ledger_entry_id not in (None, credit.ledger_entry_id):  # credited as a transfer of its own: not this
            return False
        if line.rule == StatementLine.Rule.MANUAL and line.account_id not in (None, credit.account_id):
            return False  # finance assigned it to another account: that account's transfer, not this one again
        if line.state == StatementLine.State.CREDITED and any(said in line.explanation for said in DEALT_WITH):
            return False  # given back, or its credit said to stand, before: a double click, two clerks at once
        taken = taken_back_by(debit)
        gave = taken is not None and given_back(taken) is not None
        if confirmed:  # confirm_line checked the rest: a second finance user above the threshold
            why = may_not_credit(actor, credit.account_id)
        else:
            why = waits_for_a_second_user(line, actor=actor, account_id=credit.account_id)
        if why is not None and taken is not None and not gave:
            # Given back, it would be a credit on this user's word alone: an importer who may not credit, a clerk of
            # the account, or one clerk above the threshold had had the money back (found by helpers). The line waits
            # for another finance user's confirmation, which takes a second one above the threshold.
            words = describe(NOT_GIVEN_BACK, debit=debit.bank_reference, why=why)
            if words not in line.explanation:
                explain(line, words)
            if line.state == StatementLine.State.CREDITED:  # linked to the credit taken back: nothing came of it
                line.state, line.ledger_entry_id, line.credited_at = StatementLine.State.MATCHED, None, None
            line.account_id = credit.account_id  # the confirmation gives it back (crediting.confirm_line)
            line.save(
                update_fields=["state", "ledger_entry", "account", "credited_at", "explanation", "explanation_parts"]
            )
            return True
        given = give_back(debit, now=now)
        if given is not None:  # the line is that transfer again: linked to its credit, whose part is given back
            line.state, line.ledger_entry_id, line.account_id, line.credited_at = (
                StatementLine.State.CREDITED, credit.ledger_entry_id, given.account_id, now,
            )  # fmt: skip
            explain(line, describe(CREDITED_AGAIN, debit=debit.bank_reference, amount=given.amount))
            note = TRANSFER_CREDITED_AGAIN
        else:  # the credit stands: whatever the line's state, the account is told not to reverse it
            explain(line, describe(BOOKED_AGAIN, returned=debit.booking_date, debit=debit.bank_reference))
            note = TRANSFER_BOOKED_AGAIN
        line.save(update_fields=["state", "ledger_entry", "account", "credited_at", "explanation", "explanation_parts"])
        words = describe(
            note, reference=line.bank_reference, amount=line.money, date=line.booking_date, debit=debit.bank_reference
        )
        account_id = credit.account_id
        if not Account.objects.filter(pk=account_id, review_note__contains=words).exists():
            flag_for_review(account_id=account_id, note=words, now=now)
        return True
