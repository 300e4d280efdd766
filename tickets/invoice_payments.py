"""What has been paid against each invoice: the transfers credited for it, in the invoice's currency. A transfer
is counted once: a credited Transfer Ticket that names the invoice, or a credited line of our bank statements
that quotes its number (and that no such ticket credited already). An invoice had only said "Amount due", paid or
not, so a customer could not tell whether they still owed it (found by a helper)."""

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Q
from django.utils.translation import gettext as _
from djmoney.money import Money

from money.formatting import format_money

from .models import Invoice, StatementLine, TransferTicket
from .statements.matching import INVOICE


@dataclass(frozen=True)
class InvoicePayment:
    invoice: Invoice
    received: Money

    @property
    def state(self) -> str:
        """paid, partly_paid or awaiting (the badges' names)."""
        if self.received >= self.invoice.amount:
            return "paid"
        return "partly_paid" if self.received.amount > 0 else "awaiting"

    @property
    def badge(self) -> str:
        """The badge's colour class: credited (paid), pending (partly paid) or submitted (awaiting payment)."""
        return {"paid": "credited", "partly_paid": "pending"}.get(self.state, "submitted")

    @property
    def label(self) -> str:
        if self.state == "paid":
            return _("Paid")
        if self.state == "partly_paid":
            return _("Partly paid: %(received)s received") % {"received": format_money(self.received)}
        return _("Awaiting payment")


def invoice_payments(invoices: list[Invoice]) -> dict[int, InvoicePayment]:
    """Each invoice's payment, by its id: two queries for a page of invoices."""
    by_number = {invoice.number: invoice for invoice in invoices}
    received: dict[int, Decimal] = defaultdict(Decimal)
    counted = set()  # ledger entries already counted through a ticket
    tickets = TransferTicket.objects.filter(
        invoice__in=invoices, status=TransferTicket.Status.CREDITED, ledger_entry__isnull=False
    ).select_related("invoice")
    for ticket in tickets:
        paid = _in_currency(ticket.invoice, ticket.received_amount, ticket.credit_amount, ticket.amount)
        received[ticket.invoice_id] += paid
        counted.add(ticket.ledger_entry_id)
    lines = StatementLine.objects.filter(
        Q(remittance__icontains="INV") | Q(creditor_reference__icontains="INV"),
        account_id__in={invoice.account_id for invoice in invoices},
        state=StatementLine.State.CREDITED,
    ).exclude(ledger_entry_id__in=counted)
    for line in lines.only("account_id", "amount", "currency", "remittance", "creditor_reference"):
        text = "".join(f"{line.creditor_reference} {line.remittance}".split()).upper()
        named = (by_number.get(f"INV-{year}-{seq}") for year, seq in INVOICE.findall(text))
        invoice = next((i for i in named if i is not None and i.account_id == line.account_id), None)
        if invoice is not None:  # the first invoice of its account it quotes, as the matching reads it
            received[invoice.pk] += _in_currency(invoice, line.money)
    return {
        invoice.pk: InvoicePayment(invoice, Money(received[invoice.pk], invoice.amount.currency))
        for invoice in invoices
    }


def _in_currency(invoice: Invoice, *amounts) -> Decimal:
    """The first of the amounts in the invoice's currency (what arrived, what was credited, what was declared)."""
    currency = invoice.amount.currency
    return next((amount.amount for amount in amounts if amount is not None and amount.currency == currency), Decimal(0))
