"""Bank-transfer tickets as a source of money-in records (accounts.deposits)."""

from django.db.models import F, Value
from django.urls import reverse
from django.utils.translation import gettext, gettext_lazy

from accounts.deposits import DepositRecord, RecordStatus
from accounts.selectors import within_days

from .models import StatementLine, TransferTicket

# The records page filters by RecordStatus; a ticket's states map onto them like this.
TICKET_STATUSES_FOR = {
    RecordStatus.PENDING: list(TransferTicket.OPEN_STATUSES),
    RecordStatus.CREDITED: [TransferTicket.Status.CREDITED],
    RecordStatus.FAILED: [TransferTicket.Status.REJECTED],
}


class BankTransferTickets:
    method = "bank_transfer"
    label = gettext_lazy("Bank transfer")

    def keys(self, account, *, status, first, last):
        tickets = TransferTicket.objects.filter(account=account)
        if status:
            tickets = tickets.filter(status__in=TICKET_STATUSES_FOR.get(status, []))
        tickets = within_days(tickets, first, last, field="submitted_at").annotate(
            at=F("submitted_at"), kind=Value(self.method)
        )
        return tickets.order_by().values_list("at", "pk", "kind")

    def load(self, pks):
        return {
            ticket.pk: DepositRecord(
                created_at=ticket.submitted_at,
                reference=ticket.number,
                url=reverse("tickets:detail", args=[ticket.number]),
                method=gettext("Bank transfer"),
                amount=ticket.amount,
                credited=ticket.credit_amount if ticket.status == TransferTicket.Status.CREDITED else None,
                status=ticket.status,
                status_label=ticket.get_status_display(),
                exchange_rate=ticket.exchange_rate,
            )
            for ticket in TransferTicket.objects.filter(pk__in=pks)
        }

    def overview(self, account, *, limit):
        return [], []  # a ticket is money already sent: it waits on finance, not on the customer

    def in_flight(self, account):
        return TransferTicket.objects.filter(account=account, status__in=TransferTicket.OPEN_STATUSES).count()


class StatementCredits:
    """Transfers credited straight from our bank statement (a valid payment reference, no ticket)."""

    method = "bank_statement"
    label = gettext_lazy("Bank transfer (matched on our statement)")

    def keys(self, account, *, status, first, last):
        lines = StatementLine.objects.filter(account=account, state=StatementLine.State.CREDITED, ticket__isnull=True)
        if status and status != RecordStatus.CREDITED:
            lines = lines.none()
        lines = within_days(lines, first, last, field="credited_at").annotate(
            at=F("credited_at"), kind=Value(self.method)
        )
        return lines.order_by().values_list("at", "pk", "kind")

    def load(self, pks):
        return {
            line.pk: DepositRecord(
                created_at=line.credited_at,
                reference=line.bank_reference,
                url=reverse("accounts:statement"),
                method=gettext("Bank transfer, matched with our bank statement"),
                amount=line.money,
                credited=line.ledger_entry.amount,
                status=RecordStatus.CREDITED,
                status_label=gettext("Credited"),
                exchange_rate=None,
            )
            for line in StatementLine.objects.filter(pk__in=pks).select_related("ledger_entry")
        }

    def overview(self, account, *, limit):
        return [], []

    def in_flight(self, account):
        return 0
