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

from accounts.models import LedgerEntry
from money.formatting import format_money

from .models import Invoice, StatementLine, TransferTicket
from .statements.matching import INVOICE
from .statements.take_back import taken_back_source


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
    pays (a transfer quoting two pays the first of its account's it names, on every page), less what finance took
    back of it after the bank returned it (statements.take_back)."""
    by_number = {invoice.number: invoice for invoice in invoices}
    credits: dict[int, tuple[Invoice, Decimal]] = {}  # ledger entry → the invoice it pays, how much
    tickets = TransferTicket.objects.filter(
        invoice__in=invoices, status=TransferTicket.Status.CREDITED, ledger_entry__isnull=False
    ).select_related("invoice")
    for ticket in tickets:
        paid = _in_currency(ticket.invoice, ticket.received_amount, ticket.credit_amount, ticket.amount)
        credits.setdefault(ticket.ledger_entry_id, (ticket.invoice, paid))
    lines = list(
        StatementLine.objects.filter(
            Q(remittance__icontains="INV") | Q(creditor_reference__icontains="INV"),
            account_id__in={invoice.account_id for invoice in invoices},
            state=StatementLine.State.CREDITED,
            ledger_entry__isnull=False,
        ).only("account_id", "amount", "currency", "remittance", "creditor_reference", "ledger_entry_id")
    )
    named = {line.pk: _numbers(line) for line in lines}
    owners = dict(
        Invoice.objects.filter(number__in={n for numbers in named.values() for n in numbers}).values_list(
            "number", "account_id"
        )
    )
    for line in sorted(lines, key=lambda line: line.pk):
        number = next((n for n in named[line.pk] if owners.get(n) == line.account_id), None)
        if number in by_number:  # the first invoice of its account it quotes, as the matching reads it
            credits.setdefault(line.ledger_entry_id, (by_number[number], _in_currency(by_number[number], line.money)))
    taken = _taken_back(credits)
    received: dict[int, Decimal] = defaultdict(Decimal)
    for entry_id, (invoice, paid) in credits.items():
        received[invoice.pk] += paid - taken.get((entry_id, str(invoice.amount.currency)), Decimal(0))
    return {i.pk: InvoicePayment(i, Money(max(received[i.pk], Decimal(0)), i.amount.currency)) for i in invoices}


def _numbers(line: StatementLine) -> list[str]:
    text = "".join(f"{line.creditor_reference} {line.remittance}".split()).upper()
    return [f"INV-{year}-{seq}" for year, seq in INVOICE.findall(text)]


def _taken_back(credits: dict) -> dict[tuple[int, str], Decimal]:
    """What finance took back of each credit (by ledger entry and currency) after the bank returned it."""
    debits = StatementLine.objects.filter(returned_line__ledger_entry_id__in=credits).values_list(
        "pk", "returned_line__ledger_entry_id"
    )
    of_debit = {taken_back_source(pk, repayment=r): entry for pk, entry in debits for r in (False, True)}
    taken: dict[tuple[int, str], Decimal] = defaultdict(Decimal)
    returns = LedgerEntry.objects.filter(kind=LedgerEntry.Kind.BANK_RETURN, source_ref__in=of_debit)
    for source, amount, currency in returns.values_list("source_ref", "amount", "amount_currency"):
        taken[(of_debit[source], currency)] -= amount
    return taken


def _in_currency(invoice: Invoice, *amounts) -> Decimal:
    """The first of the amounts in the invoice's currency (what arrived, what was credited, what was declared)."""
    currency = invoice.amount.currency
    return next((amount.amount for amount in amounts if amount is not None and amount.currency == currency), Decimal(0))
