"""Taking back the credit of a transfer the bank returned: finance's answer to a debit of our statement that takes
back a transfer we credited (tickets.statements.returns flags the account). The returned part is debited from the
account the transfer credited, once per debit, through the ledger's one way money goes back out; a repayment's
return makes its bills unpaid again, as a chargeback does. A transfer the bank books again after its return keeps
its credit: taking it back is refused, and a credit taken back before the bank booked it again is given back
(returns.give_back). The account had stayed flagged "reverse the credit" with nothing in the product to do it."""

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from djmoney.money import Money

from accounts.descriptions import TRANSFER_TAKEN_BACK, describe
from accounts.ledger import reverse_deposit
from accounts.models import LedgerEntry
from billing_center.review_flags import stamp
from bills.settlement import reopen_settled
from money.errors import Conflict, Invalid
from money.formatting import minor_places

from .. import notes
from ..models import StatementLine
from .crediting import require_credit_permission
from .returns import booked_again, returned_credit, taken_back_by_others, taken_back_source


@dataclass(frozen=True)
class TakenBack:
    line: StatementLine  # the debit
    entry: LedgerEntry  # the account's debit for it
    already: bool = False  # taken back before: nothing changed


def take_back_return(*, line_id: int, actor, now: datetime | None = None) -> TakenBack:
    """Debit the account a returned transfer credited with what the bank took back (at most the credit)."""
    require_credit_permission(actor)
    now = now or timezone.now()
    with transaction.atomic():
        debit = StatementLine.objects.select_for_update().get(pk=line_id)
        credit = returned_credit(debit)
        if credit is None or credit.ledger_entry_id is None:
            raise Invalid(_("This line does not take back a transfer we credited: there is nothing to take back."))
        credit = StatementLine.objects.select_for_update().get(pk=credit.pk)  # other debits of it wait here
        credited = credit.ledger_entry
        repayment = credited.kind == LedgerEntry.Kind.REPAYMENT
        source = taken_back_source(debit, repayment=repayment)
        done = LedgerEntry.objects.filter(kind=LedgerEntry.Kind.BANK_RETURN, source_ref=source).first()
        if done is not None:
            return TakenBack(debit, done, already=True)
        if booked_again(debit, credit):
            raise Conflict(
                _("The bank booked the transfer %(reference)s again after this debit: its credit stands.")
                % {"reference": credit.bank_reference}
            )
        left = credited.amount.amount - taken_back_by_others(credit, debit)
        part = min(_returned_part(debit, credit, credited.amount).amount, left)
        if part <= 0:
            raise Conflict(
                _("The credit of %(reference)s was taken back in full already, for another debit.")
                % {"reference": credit.bank_reference}
            )
        taken = reverse_deposit(
            account_id=credited.account_id,
            amount=Money(part, credited.amount.currency),
            kind=LedgerEntry.Kind.BANK_RETURN,
            source_ref=source,
            actor=actor,
            description=describe(TRANSFER_TAKEN_BACK, reference=credit.bank_reference, debit=debit.bank_reference),
            now=now,
        )
        if taken.already_credited:  # not under these locks (SQLite has none): the source's uniqueness answered
            return TakenBack(debit, taken.entry, already=True)
        if repayment:  # what it settled is unpaid again
            note = describe(TRANSFER_TAKEN_BACK, reference=credit.bank_reference, debit=debit.bank_reference)
            reopen_settled(account_id=credited.account_id, source_ref=taken.entry.source_ref, note=note, now=now)
        account = notes.account_label(credited.account_id, credited.account.name)
        amount = -taken.entry.amount
        notes.explain(
            debit, describe(notes.CREDIT_TAKEN_BACK, user=actor, amount=amount, account=account, when=stamp(now))
        )
        debit.save(update_fields=["explanation", "explanation_parts"])
        return TakenBack(debit, taken.entry)


def _returned_part(debit: StatementLine, credit: StatementLine, credited: Money) -> Money:
    """What the debit took back of the credit, in the currency it was credited in (a ticket may have credited the
    transfer converted): all of it, or the debit's share of the transfer, to the cent."""
    returned = min(-debit.amount, credit.amount)
    if returned == credit.amount:
        return credited
    places = Decimal(1).scaleb(-minor_places(str(credited.currency)))
    share = (credited.amount * returned / credit.amount).quantize(places, ROUND_HALF_UP)
    return Money(share, credited.currency)
