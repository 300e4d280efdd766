"""One transfer on our bank statement credits once: the rule a ticket's confirmation is checked
against before anything is written (tickets.review), beside the ledger's own guarantee (money in
once per source, `bank:<receiving account>:<reference>`, whatever the kind).

The receiving account and its statement's bank reference name the transfer, as the ledger's source does:
another of our banks may give another transfer the same reference. A ticket naming a retired account may
have reached one of our current accounts instead, so for it a line or ticket at another of our accounts with
the same reference and amount is taken for the same transfer. It cannot credit a second ticket; nor a ticket
when finance set our statement's line for it aside (returned to the payer, say), nor when that line was
credited, or is matched (its RF, an invoice, a bill, a clerk's assignment), to another account, nor for
another amount than the statement shows.
"""

from django.db.models import Q
from django.utils.translation import gettext as _

from money.formatting import format_money

from .exceptions import TicketStateError
from .models import StatementLine, TransferTicket
from .statements.parsed import reference_key, reference_key_of


def refuse_used_transfer(ticket: TransferTicket) -> None:
    """Raise TicketStateError, saying why, if the ticket's confirmed transfer is spoken for."""
    reference, key = ticket.confirmed_bank_reference, reference_key(ticket.confirmed_bank_reference)
    tickets = TransferTicket.objects.alias(key=reference_key_of("confirmed_bank_reference"))
    # "BK1005" typed for "BK-1005": one transfer; for a ticket naming a retired account, at another of our
    # accounts too, for the same amount.
    same_bank = Q(receiving_account_id=ticket.receiving_account_id)
    received, retired = ticket.received_amount, ticket.names_retired_account
    same_amount = Q(received_amount=received.amount, received_amount_currency=str(received.currency))
    other = tickets.filter(same_bank | (same_amount if retired else same_bank), key=key).exclude(pk=ticket.pk)
    number = other.values_list("number", flat=True).first()
    if number:
        raise TicketStateError(
            _(
                "Statement reference %(reference)s was already used for %(ticket)s. "
                "If this is a different transfer, enter its own statement reference."
            )
            % {"reference": reference, "ticket": number}
        )
    here = {} if retired else {"receiving_account_id": ticket.receiving_account_id}
    lines = list(
        StatementLine.objects.alias(key=reference_key_of("bank_reference"))
        .filter(key=key, amount__gt=0, **here)
        .select_related("account")
        .order_by("pk")
    )
    same = [line for line in lines if line.money == ticket.received_amount]  # a bank may reuse a reference
    for line in same:
        names = {"reference": line.bank_reference}
        if line.state == StatementLine.State.SET_ASIDE:
            raise TicketStateError(
                _("Our statement's line for %(reference)s was set aside (%(reason)s: “%(note)s”). Put it back first.")
                % {**names, "reason": line.get_set_aside_reason_display().lower(), "note": line.set_aside_note}
            )
        if line.state == StatementLine.State.CREDITED and line.account_id != ticket.account_id:
            raise TicketStateError(
                _(
                    "Our statement's line for %(reference)s was credited to %(account)s already: this transfer "
                    "cannot be credited again. Reject this ticket, or settle it with both customers first."
                )
                % {**names, "account": f"{line.account.name} (#{line.account_id})"}
            )
        if line.state == StatementLine.State.MATCHED and line.account_id not in (None, ticket.account_id):
            raise TicketStateError(
                _(
                    "Our statement's line for %(reference)s waits for confirmation, matched to %(account)s "
                    "(rule: %(rule)s). Assign it to this ticket's account, or set it aside, first."
                )
                % {**names, "account": f"{line.account.name} (#{line.account_id})", "rule": line.get_rule_display()}
            )
    lines = [line for line in lines if line.receiving_account_id == ticket.receiving_account_id]
    if lines and not same:
        raise TicketStateError(
            _("Our statement shows %(shown)s for %(reference)s, not %(typed)s.")
            % {
                "reference": lines[0].bank_reference,
                "shown": format_money(lines[0].money),
                "typed": format_money(ticket.received_amount),
            }
        )
