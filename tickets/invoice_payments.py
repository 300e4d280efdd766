"""What has been paid against each invoice: the transfers credited for it, in the invoice's currency. A transfer
is counted once: a credited Transfer Ticket that names the invoice, or a credited line of our bank statements
that quotes its number (and that no such ticket credited already). An invoice had only said "Amount due", paid or
not, so a customer could not tell whether they still owed it (found by a helper)."""

from collections import defaultdict
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Q
from django.utils.translation import gettext as _
from djmoney.money import Money

from money.formatting import format_money
from money.rates import round_to_minor

from .models import Invoice, StatementLine, TransferTicket
from .statements.matching import INVOICE
from .statements.take_back import net_taken_back


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
    """Each invoice's payment, by its id, in five queries for a page of invoices. Each credit counts once (by its
    ledger entry: a ticket and the lines linked to it, a transfer the bank listed twice), for the one invoice it
    pays — a ticket's, else the first of its account's its line quotes, on every page — less what finance took back
    of it after the bank returned it and did not give back (statements.take_back)."""
    by_number = {invoice.number: invoice for invoice in invoices}
    lines = list(
        StatementLine.objects.filter(
            Q(remittance__icontains="INV") | Q(creditor_reference__icontains="INV"),
            account_id__in={invoice.account_id for invoice in invoices},
            state=StatementLine.State.CREDITED,
            ledger_entry__isnull=False,
        ).only("account_id", "amount", "currency", "remittance", "creditor_reference", "ledger_entry_id")
    )
    # ledger entry → the invoice it pays (None: another), how much in the invoice's currency, how much was credited
    credits: dict[int, tuple[Invoice | None, Decimal, Decimal]] = {}
    tickets = TransferTicket.objects.filter(
        Q(invoice__in=invoices)
        | Q(ledger_entry_id__in={line.ledger_entry_id for line in lines}, invoice__isnull=False),
        status=TransferTicket.Status.CREDITED,
        ledger_entry__isnull=False,
    ).select_related("invoice")
    for ticket in tickets:  # a ticket names the invoice its transfer pays, whatever its line quotes
        invoice = ticket.invoice if ticket.invoice_id in {i.pk for i in invoices} else None
        paid = _in_currency(ticket.invoice, ticket.received_amount, ticket.credit_amount, ticket.amount)
        credited = ticket.credit_amount.amount if ticket.credit_amount is not None else paid
        credits.setdefault(ticket.ledger_entry_id, (invoice, paid, credited))
    named = {line.pk: _numbers(line) for line in lines}
    owners = dict(
        Invoice.objects.filter(number__in={n for numbers in named.values() for n in numbers}).values_list(
            "number", "account_id"
        )
    )
    for line in sorted(lines, key=lambda line: line.pk):
        number = next((n for n in named[line.pk] if owners.get(n) == line.account_id), None)
        invoice = by_number.get(number)
        paid = _in_currency(invoice, line.money) if invoice else Decimal(0)
        credits.setdefault(line.ledger_entry_id, (invoice, paid, line.amount))
    taken = net_taken_back(entry for entry, (invoice, *_) in credits.items() if invoice is not None)
    received: dict[int, Decimal] = defaultdict(Decimal)
    for entry_id, (invoice, paid, credited) in credits.items():
        if invoice is not None:  # what was taken back of the credit, in the invoice's currency at the credit's rate
            back = taken.get(entry_id, Decimal(0)) * paid / credited if credited else Decimal(0)
            received[invoice.pk] += paid - round_to_minor(back, str(invoice.amount.currency), ROUND_HALF_UP)
    return {i.pk: InvoicePayment(i, Money(max(received[i.pk], Decimal(0)), i.amount.currency)) for i in invoices}


def _numbers(line: StatementLine) -> list[str]:
    text = "".join(f"{line.creditor_reference} {line.remittance}".split()).upper()
    return [f"INV-{year}-{seq}" for year, seq in INVOICE.findall(text)]


def _in_currency(invoice: Invoice, *amounts) -> Decimal:
    """The first of the amounts in the invoice's currency (what arrived, what was credited, what was declared)."""
    currency = invoice.amount.currency
    return next((amount.amount for amount in amounts if amount is not None and amount.currency == currency), Decimal(0))
