"""Bank-transfer tickets as a source of money-in records (accounts.deposits)."""

from django.db.models import F
from django.urls import reverse
from django.utils.translation import gettext, gettext_lazy

from accounts.deposits import Attention, DepositRecord, RecordStatus
from accounts.selectors import within_days
from billing_center.choices import choice_label

from .models import StatementLine, TransferTicket
from .selectors import listed_before
from .statements.take_back import net_taken_back_of

# What a record shows of a ticket: the page loads no other column.
TICKET_RECORD_FIELDS = (
    "number", "amount", "amount_currency", "credit_amount", "credit_amount_currency", "status", "exchange_rate",
    "submitted_at",
)  # fmt: skip
# The records page filters by RecordStatus; a ticket's states map onto them like this.
TICKET_STATUSES_FOR = {
    RecordStatus.PENDING: list(TransferTicket.OPEN_STATUSES),
    RecordStatus.CREDITED: [TransferTicket.Status.CREDITED],
    RecordStatus.FAILED: [TransferTicket.Status.REJECTED],
}


class BankTransferTickets:
    method = "bank_transfer"
    label = gettext_lazy("Bank transfer")

    def records(self, account, *, status, first, last):
        tickets = TransferTicket.objects.filter(account=account)
        if status:
            tickets = tickets.filter(status__in=TICKET_STATUSES_FOR.get(status, []))
        tickets = within_days(tickets, first, last, field="submitted_at")
        return tickets.only(*TICKET_RECORD_FIELDS).annotate(
            at=F("submitted_at"), taken_back=net_taken_back_of(TransferTicket, "ledger_entry")
        )

    def record(self, ticket):
        credited = ticket.status == TransferTicket.Status.CREDITED
        return DepositRecord(
            created_at=ticket.submitted_at,
            reference=ticket.number,
            url=reverse("tickets:detail", args=[ticket.number]),
            method=gettext("Bank transfer"),
            amount=ticket.amount,
            credited=ticket.credit_amount if credited else None,
            status=ticket.status,
            status_label=_returned_label(ticket.credit_amount, ticket.taken_back) or choice_label(ticket, "status"),
            exchange_rate=ticket.exchange_rate,
        )

    def overview(self, account, *, limit):
        """A ticket is money already sent: nothing awaits payment. One finance asked about waits on the
        customer's reply: it is named, or a postpaid customer (no Transfer tickets page before) heard of
        it only by e-mail."""
        asked = TransferTicket.objects.filter(account=account, status=TransferTicket.Status.INFO_REQUESTED)
        return [], [
            Attention(
                text=gettext("Finance needs more information on ticket %(number)s before crediting it.")
                % {"number": number},
                url=reverse("tickets:detail", args=[number]),
                link_text=gettext("Reply"),
            )
            for number in asked.order_by("due_at", "pk").values_list("number", flat=True)[:limit]
        ]

    def in_flight(self, account):
        return TransferTicket.objects.filter(account=account, status__in=TransferTicket.OPEN_STATUSES).count()


class StatementCredits:
    """Transfers credited straight from our bank statement (a valid payment reference, no ticket)."""

    method = "bank_statement"
    label = gettext_lazy("Bank transfer (matched on our statement)")

    def records(self, account, *, status, first, last):
        lines = StatementLine.objects.filter(account=account, state=StatementLine.State.CREDITED, ticket__isnull=True)
        lines = lines.exclude(listed_before())  # a transfer the bank listed again is one credit, one record
        if status and status != RecordStatus.CREDITED:
            lines = lines.none()
        lines = within_days(lines, first, last, field="credited_at")
        return lines.select_related("ledger_entry").annotate(
            at=F("credited_at"), taken_back=net_taken_back_of(StatementLine, "ledger_entry")
        )

    def record(self, line):
        return DepositRecord(
            created_at=line.credited_at,
            reference=line.bank_reference,
            url=reverse("accounts:statement"),
            method=gettext("Bank transfer, matched with our bank statement"),
            amount=line.money,
            credited=line.ledger_entry.amount,
            status=RecordStatus.CREDITED,
            status_label=_returned_label(line.ledger_entry.amount, line.taken_back) or gettext("Credited"),
            exchange_rate=None,
        )

    def overview(self, account, *, limit):
        return [], []

    def in_flight(self, account):
        return 0


def _returned_label(credited, taken_back) -> str:
    """What a credit's record says once finance took it back after the bank returned the transfer (taken_back:
    net_taken_back_of, negative), as a refunded card payment's says it was refunded; "" if nothing was."""
    if not taken_back:
        return ""
    return (
        gettext("Returned by the bank")
        if -taken_back >= credited.amount
        else gettext("Credited, partly returned by the bank")
    )
