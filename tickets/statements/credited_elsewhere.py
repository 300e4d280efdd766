"""A statement line that names one account (its RF, an invoice, a bill, a clerk's assignment) for a transfer
that was credited to another account before (a ticket, an earlier statement) is linked to that credit: the
money stays where it is, credited once. What the statement says is not lost: the line says it, and the
account it names is flagged for finance, who check with both customers."""

from datetime import datetime

from accounts.descriptions import describe
from accounts.lifecycle import flag_for_review
from accounts.models import Account
from accounts.review_notes import TRANSFER_CREDITED_ELSEWHERE

from ..models import StatementLine
from ..notes import NAMES_ANOTHER_ACCOUNT, account_label, explain


def note_credited_elsewhere(line: StatementLine, named: int, *, now: datetime) -> None:
    """The locked line, linked to its transfer's credit on `line.account_id`, named account `named`: say so
    on the line (the caller saves it) and flag the named account, once for a transfer however often it is listed."""
    names = dict(Account.objects.filter(pk__in=[named, line.account_id]).values_list("pk", "name"))
    credited_to = account_label(line.account_id, names.get(line.account_id))
    explain(line, describe(NAMES_ANOTHER_ACCOUNT, named=account_label(named, names.get(named)), account=credited_to))
    note = describe(TRANSFER_CREDITED_ELSEWHERE, reference=line.bank_reference, amount=line.money, account=credited_to)
    if not Account.objects.filter(pk=named, review_note__contains=note).exists():  # the bank listed it again
        flag_for_review(account_id=named, note=note, now=now)
