"""One transfer on our bank statement credits once: the rule a ticket's confirmation is checked
against before anything is written (tickets.review), beside the ledger's own guarantee (money in
once per source, `bank:<reference>`, whatever the kind).

The statement's bank reference names the transfer, as the ledger's source does. It cannot credit a
second ticket; nor a ticket when finance set our statement's line for it aside (returned to the
payer, say), nor when that line was credited to another account, nor for another amount than the
statement shows.
"""

from django.utils.translation import gettext as _

from money.formatting import format_money

from .exceptions import TicketStateError
from .models import StatementLine, TransferTicket
from .statements.parsed import compact_reference


def refuse_used_transfer(ticket: TransferTicket) -> None:
    """Raise TicketStateError, saying why, if the ticket's confirmed transfer is spoken for."""
    reference = ticket.confirmed_bank_reference
    other = TransferTicket.objects.filter(confirmed_bank_reference__iexact=reference).exclude(pk=ticket.pk)
    number = other.values_list("number", flat=True).first()
    if number:
        raise TicketStateError(
            _(
                "Statement reference %(reference)s was already used for %(ticket)s. "
                "If this is a different transfer, enter its own statement reference."
            )
            % {"reference": reference, "ticket": number}
        )
    lines = StatementLine.objects.filter(bank_reference=compact_reference(reference), amount__gt=0)
    for line in lines.select_related("account").order_by("pk"):
        names = {"reference": line.bank_reference, "shown": format_money(line.money)}
        if line.state == StatementLine.State.SET_ASIDE:
            raise TicketStateError(
                _("Our statement's line for %(reference)s was set aside (%(reason)s: “%(note)s”). Put it back first.")
                % {**names, "reason": line.get_set_aside_reason_display().lower(), "note": line.set_aside_note}
            )
        if line.state == StatementLine.State.CREDITED and line.account_id != ticket.account_id:
            raise TicketStateError(
                _("Our statement's line for %(reference)s was credited to %(account)s already.")
                % {**names, "account": f"{line.account.name} (#{line.account_id})"}
            )
        if line.money != ticket.received_amount:
            raise TicketStateError(
                _("Our statement shows %(shown)s for %(reference)s, not %(typed)s.")
                % {**names, "typed": format_money(ticket.received_amount)}
            )
