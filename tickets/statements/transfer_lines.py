"""The lines of our statements that list one transfer: a bank may list it again (on a later statement, another
booking date, its reference written otherwise). Whatever is done to one of them is done knowing the others:
the transfer is credited once, or set aside (returned to the payer, say), never both.

Every path that credits or sets a line aside locks its own line(s) first, then the transfer (`lock_transfers`,
a lock named for it that lasts the transaction), so two clerks, or a clerk and an import, working on two lines of
one transfer run one after the other and each sees what the other did. A ticket's confirmation takes the same
lock before its ticket's row (`lock_transfer`); it never waits for a line (it links lines with SKIP LOCKED).
"""

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from accounts.descriptions import describe
from billing_center.db import transaction_locks
from billing_center.review_flags import stamp
from money.errors import Conflict

from .. import notes
from ..models import ReceivingAccount, StatementLine, TransferTicket
from .matching import earlier_credits
from .parsed import reference_key, reference_key_of

State = StatementLine.State


def lock_transfers(lines: list[StatementLine]) -> None:
    """Take each line's transfer lock, in one order for everyone (after the lines' own row locks)."""
    transaction_locks([_name(line) for line in lines])


def others(line: StatementLine) -> QuerySet[StatementLine]:
    """The other lines of the line's transfer: its receiving account, reference however written, amount and
    currency."""
    return (
        StatementLine.objects.alias(key=reference_key_of("bank_reference"))
        .filter(
            receiving_account_id=line.receiving_account_id,
            key=reference_key(line.bank_reference),
            amount=line.amount,
            currency=line.currency,
        )
        .exclude(pk=line.pk)
    )


def refuse_if_set_aside(line: StatementLine) -> None:
    """Conflict if another line of the transfer was set aside: crediting it would pay the customer money that
    went back to the payer."""
    aside = others(line).filter(state=State.SET_ASIDE).order_by("pk").first()
    if aside is not None:
        raise Conflict(
            _(
                "Our statement's line %(reference)s of %(date)s lists the same transfer and was set aside "
                "(%(reason)s). Put it back first if this transfer is to be credited."
            )
            % {
                "reference": aside.bank_reference,
                "date": aside.booking_date.isoformat(),
                "reason": aside.get_set_aside_reason_display().lower(),
            }
        )


def refuse_if_credited(line: StatementLine) -> None:
    """Conflict if the transfer was credited, through another of its lines or a ticket: the money is in a
    customer's balance."""
    earlier = earlier_credits([line]).get(line.pk)
    if earlier is not None:
        raise Conflict(
            _("This transfer was credited already (%(what)s); this line cannot be set aside.")
            % {"what": earlier.ticket.number if earlier.ticket else stamp(earlier.entry.created_at)}
        )
    credited = others(line).filter(state=State.CREDITED).order_by("pk").first()
    if credited is not None:
        raise Conflict(
            _(
                "Our statement's line %(reference)s of %(date)s lists the same transfer and was credited; "
                "this line cannot be set aside."
            )
            % {"reference": credited.bank_reference, "date": credited.booking_date.isoformat()}
        )


def with_a_line_set_aside(lines: list[StatementLine]) -> set[int]:
    """The ids of the lines among `lines` whose transfer has a line set aside: one query for a chunk."""
    aside = {_transfer(other) for other in _of_transfers(lines).filter(state=State.SET_ASIDE)}
    return {line.pk for line in lines if _transfer(line) in aside}


def link_others(lines: list[StatementLine], *, actor, now) -> None:
    """After `lines` were credited: the other lines of their transfers still waiting (matched or unmatched) are
    linked to the same credit, off the to-do list, never credited again (one had stayed "awaiting confirmation",
    and could be set aside as returned). A line another transaction holds (an import) is skipped: that import
    finds the credit itself."""
    credited = {_transfer(line): line for line in lines}
    waiting = (
        _of_transfers(lines)
        .filter(state__in=(State.MATCHED, State.UNMATCHED))
        .exclude(pk__in=[line.pk for line in lines])
        .select_for_update(skip_locked=True)
        .order_by("pk")
    )
    for other in waiting:
        line = credited.get(_transfer(other))
        if line is None:
            continue
        other.account_id, other.ticket_id, other.ledger_entry_id = line.account_id, line.ticket_id, line.ledger_entry_id
        other.state, other.credited_by, other.credited_at = State.CREDITED, actor, now
        notes.explain(other, describe(notes.ALREADY_CREDITED_ON, when=stamp(now)))
        other.save()


def _of_transfers(lines: list[StatementLine]) -> QuerySet[StatementLine]:
    """Every line of the lines' transfers (theirs included), in one query."""
    return StatementLine.objects.alias(key=reference_key_of("bank_reference")).filter(
        receiving_account_id__in={line.receiving_account_id for line in lines},
        key__in={reference_key(line.bank_reference) for line in lines},
        amount__in={line.amount for line in lines},
    )


def _transfer(line: StatementLine) -> tuple:
    return (line.receiving_account_id, reference_key(line.bank_reference), line.amount, line.currency)


def lock_ticket_transfer(ticket_id: int, *, reference: str | None = None, amount=None) -> None:
    """The lock of the transfer a ticket is being credited for, taken before the ticket's row lock
    (tickets.review): crediting a ticket and setting its transfer's line aside run one after the other. The
    reference and amount the clerk confirms, or else those the ticket's proposal holds."""
    figures = TransferTicket.objects.filter(pk=ticket_id).values_list(
        "receiving_account_id", "confirmed_bank_reference", "received_amount", "receiving_account__retired_at"
    )
    for receiving_account_id, proposed_reference, proposed_amount, retired_at in figures:
        reference, amount = reference or proposed_reference, amount if amount is not None else proposed_amount
        if not reference or amount is None:
            continue
        # A ticket naming a retired account may be the transfer a line at another of our accounts lists
        # (tickets.selectors.statement_lines_for_transfer): that line's import waits for this credit, and this
        # one for that import, as each takes its transfer's lock before it reads what was credited.
        banks = ReceivingAccount.objects.values_list("pk", flat=True) if retired_at else [receiving_account_id]
        transaction_locks([transfer_lock_name(bank, reference, amount) for bank in banks])


def transfer_lock_name(receiving_account_id: int, reference: str, amount) -> str:
    return f"statement-transfer:{receiving_account_id}:{reference_key(reference)}:{amount:.2f}"


def _name(line: StatementLine) -> str:
    return transfer_lock_name(line.receiving_account_id, line.bank_reference, line.amount)
