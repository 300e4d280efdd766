"""Matching statement lines, in order of confidence, each step explained on the line:

1. a valid ISO 11649 RF reference of ours (structured creditor reference or free text, with
   or without spaces, any case) names the account;
2. an invoice number (INV-…) or a bill number (BL-…) names its account (and the bill);
3. an open Transfer Ticket with the same bank reference, or the same amount, currency and
   date from the same payer, names that ticket.

A line that names no account, or more than one, waits in the unmatched queue with suggestions.

A whole chunk of lines is matched at once: everything the lines name (accounts, invoices,
bills, tickets, earlier credits) is read in a handful of queries, whatever the chunk's size.
"""

import re
from collections import defaultdict
from dataclasses import dataclass, field

from django.db.models import Q
from django.db.models.functions import Lower
from stdnum import iso11649

from accounts.descriptions import Description, describe
from accounts.models import Account, LedgerEntry
from bills.models import Bill

from .. import notes
from ..models import Invoice, StatementLine, TransferTicket, legacy_transfer_sources, transfer_source_ref
from ..references import formatted
from .parsed import reference_key, reference_key_of

# Ours: RF, two check digits, BC and the account's eight digits, not one digit more (an over-long one had
# been cut to eight and read as account #0).
OUR_RF = re.compile(r"RF\d\dBC\d{8}(?!\d)")
INVOICE = re.compile(r"INV-?(\d{4})-?(\d{6})")
BILL = re.compile(r"BL-?(\d{4})-?(\d\d)-?(\d{6})")
DEPOSIT_KINDS = (LedgerEntry.Kind.BANK_TRANSFER, LedgerEntry.Kind.REPAYMENT)


@dataclass
class Match:
    state: str = StatementLine.State.UNMATCHED
    rule: str = StatementLine.Rule.NONE
    account_id: int | None = None
    bill_id: int | None = None
    ticket_id: int | None = None
    notes: list[Description] = field(default_factory=list)  # tickets.notes
    suggestions: list[Description] = field(default_factory=list)


@dataclass(frozen=True)
class Earlier:
    """A credit that already exists for a line's transfer: the ledger entry under the bank's
    source, or a ticket credited under a source of its own (a reference typed differently, or
    credited before tickets shared the bank's source)."""

    entry: LedgerEntry
    ticket: TransferTicket | None = None


def compact(reference: str) -> str:
    """What a ticket's bank reference and a line's share when they name one transfer (parsed.reference_key)."""
    return reference_key(reference)


def match_lines(lines: list[StatementLine], *, statement_currency: str) -> dict[int, Match]:
    """Each line's match, by line id."""
    found = _Found.read(lines)
    return {line.pk: _match(line, statement_currency, found) for line in lines}


def hold(match: Match, why: Description | None) -> Match:
    """The match of a line held back from crediting on import (`why`, tickets.notes), or `match` itself: the
    line waits unmatched, the reason first, what it names kept as a suggestion for finance, who credit it by
    hand or set it aside."""
    if why is None:
        return match
    if match.state != StatementLine.State.MATCHED:
        return Match(match.state, notes=[why, *match.notes], suggestions=match.suggestions)
    named = [notes.account_label(match.account_id, None)]
    return Match(notes=[why, *match.notes], suggestions=[*named, *match.suggestions])


def earlier_credits(lines: list[StatementLine]) -> dict[int, Earlier]:
    """For the credit lines whose transfer was credited already (by a ticket, or a line of an
    earlier statement under the same bank reference), that credit, by line id.

    A transfer is the receiving account it reached, its reference there and what arrived: a credit under the
    same reference at another of our banks, or of another amount, is another transfer (two banks had given
    two customers one reference, and the second customer's money was linked to the first one's credit)."""
    credits = [line for line in lines if line.is_credit]
    if not credits:
        return {}
    current = {line.pk: transfer_source_ref(line.receiving_account_id, line.bank_reference) for line in credits}
    legacy = {line.pk: legacy_transfer_sources(line.bank_reference) for line in credits}
    entries = {
        entry.source_ref: entry
        for entry in LedgerEntry.objects.filter(
            kind__in=DEPOSIT_KINDS, source_ref__in={*current.values(), *(s for ss in legacy.values() for s in ss)}
        )
    }
    carried = _carried_by(entry.pk for source, entry in entries.items() if source not in current.values())
    tickets = defaultdict(list)
    references = [reference for line in credits for reference in _references(line)]
    for ticket in (
        TransferTicket.objects.alias(
            compact=reference_key_of("bank_reference"), confirmed=reference_key_of("confirmed_bank_reference")
        )
        # The customer's words for it, or the reference finance confirmed (whatever spelling its entry's source has)
        .filter(Q(compact__in=references) | Q(confirmed__in=references))
        .filter(status=TransferTicket.Status.CREDITED, ledger_entry__isnull=False)
        .select_related("ledger_entry", "receiving_account")
        .order_by("pk")
    ):
        for key in {compact(ticket.bank_reference), compact(ticket.confirmed_bank_reference)}:
            tickets[key].append(ticket)
    listed = _listed({t.ledger_entry_id for line in credits if line.payer_reference
                      for t in tickets[compact(line.payer_reference)]})  # fmt: skip
    earlier = {}
    for line in credits:
        bank = line.receiving_account_id
        ticket = next((t for t in tickets[compact(line.bank_reference)] if _same_transfer(line, t)), None)
        if ticket is None and line.payer_reference:  # the customer quoted the payer's id: not a credit listed before
            by_payer = tickets[compact(line.payer_reference)]
            ticket = next((t for t in by_payer if _same_transfer(line, t) and t.ledger_entry_id not in listed), None)
        found = [entries.get(current[line.pk])]
        found += [entries.get(source) for source in sorted(legacy[line.pk])]
        entry = next((e for e in found if e is not None and (e.source_ref == current[line.pk] or
                      (e.pk, bank) in carried)), None)  # fmt: skip
        if entry is not None and entry.amount != line.money and not (ticket and ticket.ledger_entry_id == entry.pk):
            entry = None  # another amount under the reference: another transfer, which crediting says is refused
        entry = entry or (ticket and ticket.ledger_entry)
        if entry is not None:
            earlier[line.pk] = Earlier(entry, ticket)
    return earlier


def _same_transfer(line: StatementLine, ticket: TransferTicket) -> bool:
    """Whether a credited ticket quoting the line's reference credited the line's transfer: the same amount
    received, and the receiving account the ticket names — or, for a ticket naming a retired account, another
    of ours where the line names no other customer."""
    if (ticket.received_amount or ticket.amount) != line.money:
        return False
    if ticket.receiving_account_id == line.receiving_account_id:
        return True
    return ticket.names_retired_account and line.account_id in (None, ticket.account_id)


def _listed(entry_ids) -> set[int]:
    """Which of these entries a statement line carries: a ticket credited under the payer's own reference is
    the transfer of a line quoting it only if no line was linked to it before (a payer reuses its id monthly)."""
    ids = set(entry_ids) - {None}
    return set(StatementLine.objects.filter(ledger_entry_id__in=ids).values_list("ledger_entry_id", flat=True))


def _carried_by(entry_ids) -> set[tuple[int, int]]:
    """(entry id, receiving account id) for the entries a statement line or a ticket carries: which of our bank
    accounts an entry under a legacy source (one without the receiving account) credited a transfer of."""
    ids = set(entry_ids)
    if not ids:
        return set()
    lines = StatementLine.objects.filter(ledger_entry_id__in=ids).values_list("ledger_entry_id", "receiving_account_id")
    tickets = TransferTicket.objects.filter(ledger_entry_id__in=ids).values_list(
        "ledger_entry_id", "receiving_account_id"
    )
    return {*lines, *tickets}


@dataclass
class _Found:
    """What a chunk of lines names, read at once."""

    names: dict[int, str]  # account id → name
    invoices: dict[str, int]  # number → account id
    bills: dict[str, tuple[int, int]]  # number → (account id, bill id)
    open_tickets: list[TransferTicket]
    payers: dict[str, list[int]]  # payer name, lower case → accounts it paid before
    masters: dict[int, str]  # an enterprise member's account id → its master's name

    @classmethod
    def read(cls, lines: list[StatementLine]) -> "_Found":
        texts = [_text(line) for line in lines if line.is_credit]
        references = {rf for text in texts for rf in OUR_RF.findall(text)}
        invoice_numbers = {f"INV-{y}-{s}" for text in texts for y, s in INVOICE.findall(text)}
        bill_numbers = {f"BL-{y}-{m}-{s}" for text in texts for y, m, s in BILL.findall(text)}
        invoices = dict(Invoice.objects.filter(number__in=invoice_numbers).values_list("number", "account_id"))
        bills = {
            number: (account_id, pk)
            for number, account_id, pk in Bill.objects.filter(number__in=bill_numbers).values_list(
                "number", "account_id", "pk"
            )
        }
        open_tickets = _open_tickets(lines)
        payer_names = {line.payer_name.lower() for line in lines if line.is_credit and line.payer_name}
        payers = defaultdict(list)
        if payer_names:
            for payer, account_id in (
                TransferTicket.objects.annotate(payer=Lower("payer_name"))
                .filter(payer__in=payer_names)
                .values_list("payer", "account_id")
                .distinct()
                .order_by("payer", "account_id")
            ):
                payers[payer].append(account_id)
        account_ids = {
            *(int(rf[6:]) for rf in references),
            *invoices.values(),
            *(account_id for account_id, _ in bills.values()),
            *(ticket.account_id for ticket in open_tickets),
            *(pk for ids in payers.values() for pk in ids[:3]),
        }
        names, masters = {}, {}
        for pk, name, master in Account.objects.filter(pk__in=account_ids).values_list(
            "pk", "name", "enterprise_master__name"
        ):
            names[pk] = name
            if master is not None:
                masters[pk] = master
        return cls(names, invoices, bills, open_tickets, payers, masters)

    def label(self, account_id: int) -> Description:
        return notes.account_label(account_id, self.names.get(account_id))

    def tickets_for(self, line: StatementLine) -> list[TransferTicket]:
        """Open tickets with the line's bank reference or the payer's own (the reference a customer saw), or its
        amount and date from the same payer."""
        payer = line.payer_name.lower()
        return [
            ticket
            for ticket in self.open_tickets
            if compact(ticket.bank_reference) in _references(line)
            or (
                payer
                and ticket.payer_name.lower() == payer
                and ticket.amount == line.money
                and ticket.transfer_date == line.booking_date
            )
        ]


def _text(line: StatementLine) -> str:
    return "".join(f"{line.creditor_reference} {line.remittance}".split()).upper()


def _open_tickets(lines: list[StatementLine]) -> list[TransferTicket]:
    credits = [line for line in lines if line.is_credit]
    if not credits:
        return []
    same_reference = Q(compact__in=[reference for line in credits for reference in _references(line)])
    same_day = Q(transfer_date__in={line.booking_date for line in credits}, payer_name__gt="")
    return list(
        TransferTicket.objects.alias(compact=reference_key_of("bank_reference"))
        .filter(same_reference | same_day, status__in=TransferTicket.OPEN_STATUSES)
        .order_by("pk")
    )


def _references(line: StatementLine) -> set[str]:
    """The references a ticket may quote for the line's transfer: the bank's, and the payer's own."""
    return {compact(line.bank_reference), *([compact(line.payer_reference)] if line.payer_reference else [])}


def _match(line: StatementLine, statement_currency: str, found: _Found) -> Match:
    if not line.is_credit:
        return Match(StatementLine.State.DEBIT, notes=[describe(notes.DEBIT)])
    if line.currency != statement_currency:
        why = describe(notes.OTHER_CURRENCY, currency=line.currency, account_currency=statement_currency)
        return Match(StatementLine.State.OTHER_CURRENCY, notes=[why])
    match = Match()
    text = _text(line)
    named: dict[int, tuple[str, int | None, Description]] = {}  # account id → (rule, bill id, why), strongest first
    for rule, account_id, bill_id, why in [*_rf_accounts(text, match, found), *_document_accounts(text, found)]:
        named.setdefault(account_id, (rule, bill_id, why))
        if bill_id and not named[account_id][1]:
            named[account_id] = (named[account_id][0], bill_id, named[account_id][2])
    tickets = found.tickets_for(line)
    if len(named) > 1:
        match.notes += [describe(notes.SEVERAL_ACCOUNTS), *(why for _, _, why in named.values())]
        match.suggestions += [found.label(pk) for pk in named]
        return match
    if named:
        ((account_id, (rule, bill_id, why)),) = named.items()
        match.state, match.rule = StatementLine.State.MATCHED, rule
        match.account_id, match.bill_id = account_id, bill_id
        match.notes.append(why)
        if account_id in found.masters:  # not credited by itself (crediting.is_exact): said why
            match.notes.append(describe(notes.MEMBER_NOT_AUTO_CREDITED, master=found.masters[account_id]))
        ticket = next((t for t in tickets if t.account_id == account_id), None)
        if ticket:
            match.ticket_id = ticket.pk
            match.notes.append(describe(notes.TICKET_OF_ACCOUNT, number=ticket.number))
        return match
    if len(tickets) == 1:
        (ticket,) = tickets
        match.state, match.rule = StatementLine.State.MATCHED, StatementLine.Rule.TICKET
        match.account_id, match.ticket_id, match.bill_id = ticket.account_id, ticket.pk, ticket.bill_id
        same_reference = compact(ticket.bank_reference) in _references(line)
        why = notes.TICKET_SAME_REFERENCE if same_reference else notes.TICKET_SAME_PAYMENT
        match.notes.append(describe(why, number=ticket.number))
        return match
    if tickets:
        numbers = ", ".join(t.number for t in tickets[:3])
        match.notes.append(describe(notes.SEVERAL_TICKETS, numbers=numbers))
        match.suggestions += [found.label(t.account_id) for t in tickets[:3]]
    else:
        match.notes.append(describe(notes.NOTHING_NAMES))
        payer = line.payer_name.lower()
        match.suggestions += [describe(notes.PAID_BEFORE, account=found.label(pk)) for pk in found.payers[payer][:3]]
    return match


def _rf_accounts(text: str, match: Match, found: _Found):
    for reference in dict.fromkeys(OUR_RF.findall(text)):
        account_id = int(reference[6:])
        if not iso11649.is_valid(reference):
            match.notes.append(describe(notes.RF_WRONG_DIGITS, reference=formatted(reference)))
            if account_id in found.names:  # a digit off names some account: never one that does not exist
                match.suggestions.append(describe(notes.MISTYPED_RF, account=found.label(account_id)))
        elif account_id in found.names:
            why = describe(notes.RF_NAMES, reference=formatted(reference), account=found.label(account_id))
            yield StatementLine.Rule.RF, account_id, None, why
        else:
            match.notes.append(describe(notes.RF_NO_ACCOUNT, reference=formatted(reference)))


def _document_accounts(text: str, found: _Found):
    for year, seq in dict.fromkeys(INVOICE.findall(text)):
        number = f"INV-{year}-{seq}"
        if number in found.invoices:
            account_id = found.invoices[number]
            why = describe(notes.INVOICE_OF, number=number, account=found.label(account_id))
            yield StatementLine.Rule.INVOICE, account_id, None, why
    for year, month, seq in dict.fromkeys(BILL.findall(text)):
        number = f"BL-{year}-{month}-{seq}"
        if number in found.bills:
            account_id, bill_id = found.bills[number]
            why = describe(notes.BILL_OF, number=number, account=found.label(account_id))
            yield StatementLine.Rule.BILL, account_id, bill_id, why
