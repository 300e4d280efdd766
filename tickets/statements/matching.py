"""Matching a statement line, in order of confidence, each step explained on the line:

1. a valid ISO 11649 RF reference of ours (structured creditor reference or free text, with
   or without spaces, any case) names the account;
2. an invoice number (INV-…) or a bill number (BL-…) names its account (and the bill);
3. an open Transfer Ticket with the same bank reference, or the same amount, currency and
   date from the same payer, names that ticket.

A line that names no account, or more than one, waits in the unmatched queue with suggestions.
"""

import re
from dataclasses import dataclass, field

from django.db.models import Q, Value
from django.db.models.functions import Replace, Upper
from stdnum import iso11649

from accounts.models import Account, LedgerEntry
from bills.models import Bill

from ..models import Invoice, StatementLine, TransferTicket, transfer_source_ref
from ..references import formatted

OUR_RF = re.compile(r"RF\d\dBC\d{8}")
INVOICE = re.compile(r"INV-?(\d{4})-?(\d{6})")
BILL = re.compile(r"BL-?(\d{4})-?(\d\d)-?(\d{6})")


@dataclass
class Match:
    state: str = StatementLine.State.UNMATCHED
    rule: str = StatementLine.Rule.NONE
    account_id: int | None = None
    bill_id: int | None = None
    ticket_id: int | None = None
    notes: list[str] = field(default_factory=list)
    suggestions: list[str] = field(default_factory=list)


def match_line(line: StatementLine, *, statement_currency: str) -> Match:
    if not line.is_credit:
        return Match(StatementLine.State.DEBIT, notes=["A debit: listed, never credited."])
    if line.currency != statement_currency:
        return Match(
            StatementLine.State.OTHER_CURRENCY,
            notes=[f"In {line.currency}, not the account's {statement_currency}: listed, never credited."],
        )
    match = Match()
    text = "".join(f"{line.creditor_reference} {line.remittance}".split()).upper()
    named: dict[int, tuple[str, int | None, str]] = {}  # account id → (rule, bill id, why), strongest first
    for rule, account_id, bill_id, why in [*_rf_accounts(text, match), *_document_accounts(text)]:
        named.setdefault(account_id, (rule, bill_id, why))
        if bill_id and not named[account_id][1]:
            named[account_id] = (named[account_id][0], bill_id, named[account_id][2])
    if len(named) > 1:
        match.notes.append("Names more than one account: " + "; ".join(why for _, _, why in named.values()))
        match.suggestions += [_account_label(pk) for pk in named]
        return match
    if named:
        ((account_id, (rule, bill_id, why)),) = named.items()
        match.state, match.rule, match.account_id, match.bill_id = (
            StatementLine.State.MATCHED,
            rule,
            account_id,
            bill_id,
        )
        match.notes.append(why)
        ticket = _open_tickets(line).filter(account_id=account_id).first()
        if ticket:
            match.ticket_id = ticket.pk
            match.notes.append(f"Ticket {ticket.number} of the same account is for this transfer.")
        return match
    tickets = list(_open_tickets(line)[:3])
    if len(tickets) == 1:
        match.state, match.rule = StatementLine.State.MATCHED, StatementLine.Rule.TICKET
        match.account_id, match.ticket_id, match.bill_id = tickets[0].account_id, tickets[0].pk, tickets[0].bill_id
        match.notes.append(f"Ticket {tickets[0].number} names this transfer ({_why_ticket(line, tickets[0])}).")
        return match
    if tickets:
        match.notes.append("Several open tickets could be this transfer: " + ", ".join(t.number for t in tickets))
        match.suggestions += [_account_label(t.account_id) for t in tickets]
    else:
        match.notes.append("No RF reference, invoice, bill or ticket names this transfer.")
        match.suggestions += _payer_suggestions(line)
    return match


def already_credited(line: StatementLine) -> LedgerEntry | None:
    """The entry a ticket posted for this transfer already (the shared ledger source)."""
    kinds = [LedgerEntry.Kind.BANK_TRANSFER, LedgerEntry.Kind.REPAYMENT]
    return LedgerEntry.objects.filter(kind__in=kinds, source_ref=transfer_source_ref(line.bank_reference)).first()


def credited_ticket(line: StatementLine) -> TransferTicket | None:
    """A ticket already credited for this transfer under its own ledger source (one credited before
    tickets shared the bank's source `bank:<reference>`): the line is linked to it, never credited."""
    compact = Upper(Replace("bank_reference", Value(" "), Value("")))
    return (
        TransferTicket.objects.alias(compact=compact)
        .filter(compact=line.bank_reference, status=TransferTicket.Status.CREDITED, ledger_entry__isnull=False)
        .filter(Q(amount=line.money) | Q(received_amount=line.money))
        .order_by("pk")
        .first()
    )


def _rf_accounts(text: str, match: Match):
    for reference in dict.fromkeys(OUR_RF.findall(text)):
        account_id = int(reference[6:])
        if not iso11649.is_valid(reference):
            match.notes.append(f"{formatted(reference)} has wrong check digits: not used.")
            match.suggestions.append(_account_label(account_id) + " (from a mistyped RF)")
        elif name := Account.objects.filter(pk=account_id).values_list("name", flat=True).first():
            yield (
                StatementLine.Rule.RF,
                account_id,
                None,
                f"RF reference {formatted(reference)} names {name} (#{account_id}).",
            )
        else:
            match.notes.append(f"RF reference {formatted(reference)} names no account of ours.")


def _document_accounts(text: str):
    numbers = {f"INV-{year}-{seq}" for year, seq in INVOICE.findall(text)}
    for invoice in Invoice.objects.filter(number__in=numbers) if numbers else []:
        yield (
            StatementLine.Rule.INVOICE,
            invoice.account_id,
            None,
            f"Invoice {invoice.number} is {_account_label(invoice.account_id)}'s.",
        )
    numbers = {f"BL-{year}-{month}-{seq}" for year, month, seq in BILL.findall(text)}
    for bill in Bill.objects.filter(number__in=numbers) if numbers else []:
        yield (
            StatementLine.Rule.BILL,
            bill.account_id,
            bill.pk,
            f"Bill {bill.number} is {_account_label(bill.account_id)}'s.",
        )


def _open_tickets(line: StatementLine):
    compact = Upper(Replace("bank_reference", Value(" "), Value("")))
    same_reference = TransferTicket.objects.alias(compact=compact).filter(compact=line.bank_reference)
    same_transfer = TransferTicket.objects.filter(
        amount=line.money, transfer_date=line.booking_date, payer_name__iexact=line.payer_name
    )
    if not line.payer_name:
        same_transfer = same_transfer.none()  # no payer named: amount and date alone are not enough
    return (same_reference | same_transfer).filter(status__in=TransferTicket.OPEN_STATUSES).order_by("pk")


def _why_ticket(line: StatementLine, ticket: TransferTicket) -> str:
    if "".join(ticket.bank_reference.split()).upper() == line.bank_reference:
        return "same bank reference"
    return "same amount, date and payer"


def _payer_suggestions(line: StatementLine) -> list[str]:
    if not line.payer_name:
        return []
    account_ids = (
        TransferTicket.objects.filter(payer_name__iexact=line.payer_name)
        .values_list("account_id", flat=True)
        .distinct()[:3]
    )
    return [_account_label(pk) + " (paid from this payer before)" for pk in account_ids]


def _account_label(account_id: int) -> str:
    name = Account.objects.filter(pk=account_id).values_list("name", flat=True).first()
    return f"{name} (#{account_id})" if name else f"account #{account_id}"
