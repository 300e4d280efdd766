"""A USD customer pays 710.00 CNY into our CNY account; the Transfer Ticket credits it converted (100.00 USD). When
the bank returns the transfer, finance can take the credit back, and a CNY invoice counts what is left in CNY (found
by a helper: the statement line had never been linked to the ticket's credit, and the invoice had subtracted the USD
taken back from the CNY received)."""

from datetime import date
from decimal import Decimal

import pytest
from djmoney.contrib.exchange.models import ExchangeBackend, Rate
from djmoney.money import Money

from accounts.models import Account
from accounts.verification import ledger_mismatches
from tests.tickets.conftest import chinese_csv_columns, make_ticket, yuan_receiving_account
from tests.tickets.statement_files import Entry, csv_statement
from tickets.invoice_payments import invoice_payments
from tickets.models import Invoice, StatementLine
from tickets.receiving_accounts import issue_invoice
from tickets.references import payment_reference
from tickets.review import confirm_and_credit
from tickets.statements.importing import import_statement
from tickets.statements.take_back import take_back_return

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("returned, still_received", [("-710.00", "0.00"), ("-355.00", "355.00")])
def test_a_cny_invoice_paid_through_a_converted_ticket_counts_what_was_taken_back_in_cny(
    customer, clerk, returned, still_received
):
    yuan = yuan_receiving_account()
    chinese_csv_columns(yuan)
    invoice = issue_invoice(invoice=Invoice(account=customer.account, amount=Money("710.00", "CNY"), description="x"))
    sheet = ExchangeBackend.objects.create(name="finance", base_currency="USD")
    Rate.objects.create(backend=sheet, currency="CNY", value=Decimal("7.1"))
    pay = Entry("710.00", "CN-7788", remittance=f"{invoice.number} {payment_reference(customer.account_id)}")
    import_statement(receiving_account_id=yuan.pk, data=csv_statement([pay]), name="a.csv", actor=clerk)
    ticket = make_ticket(customer, yuan, amount=Money("710.00", "CNY"), bank_reference="CN-7788", invoice=invoice)
    confirm_and_credit(ticket_id=ticket.pk, actor=clerk, received=Money("710.00", "CNY"), bank_reference="CN-7788")
    assert invoice_payments([invoice])[invoice.pk].state == "paid"
    back = Entry(returned, "CN-7788", remittance="退汇", booked=date(2026, 12, 2))
    import_statement(
        receiving_account_id=yuan.pk, data=csv_statement([back], opening="1710.00"), name="b.csv", actor=clerk
    )
    take_back_return(line_id=StatementLine.objects.get(amount__lt=0).pk, actor=clerk)
    assert ledger_mismatches() == []
    received = invoice_payments([invoice])[invoice.pk].received
    assert received == Money(still_received, "CNY")


def test_a_transfer_a_ticket_credited_converted_is_linked_and_its_return_taken_back(customer, clerk):
    """The usual order: the ticket is credited from the certificate, the statement comes the next day. Crediting had
    refused the line's currency before looking for the ticket's credit, so the line stayed unlinked and its return
    was no return."""
    yuan, ticket = credited_converted_then_listed(customer, clerk)
    back = Entry("-710.00", "CN-7788", remittance="退汇", booked=date(2026, 12, 2))
    import_statement(
        receiving_account_id=yuan.pk, data=csv_statement([back], opening="1710.00"), name="b.csv", actor=clerk
    )
    ticket.refresh_from_db()
    assert StatementLine.objects.get(amount__gt=0).ledger_entry_id == ticket.ledger_entry_id
    take_back_return(line_id=StatementLine.objects.get(amount__lt=0).pk, actor=clerk)
    assert Account.objects.get(pk=customer.account_id).balance == Money("0.00", "USD")
    assert ledger_mismatches() == []


def test_a_converted_transfer_returned_whole_in_parts_takes_back_the_whole_credit(client, customer, clerk):
    """Each part's share rounded on its own had left a cent, and the records had said "partly returned" (found by a
    helper): the part that completes the transfer takes what is left."""
    yuan, ticket = credited_converted_then_listed(customer, clerk)
    opening = Decimal("1710.00")
    for n, part in enumerate(("-236.67", "-236.67", "-236.66")):
        back = Entry(part, "CN-7788", remittance="退汇", booked=date(2026, 12, 2 + n))
        statement = csv_statement([back], opening=str(opening))
        import_statement(receiving_account_id=yuan.pk, data=statement, name=f"b{n}.csv", actor=clerk)
        opening += Decimal(part)
    taken = [take_back_return(line_id=debit.pk, actor=clerk) for debit in StatementLine.objects.filter(amount__lt=0)]

    assert [t.entry.amount for t in taken] == [Money(a, "USD") for a in ("-33.33", "-33.33", "-33.34")]
    assert Account.objects.get(pk=customer.account_id).balance == Money("0.00", "USD")
    client.force_login(customer)
    row = next(r for r in client.get("/billing/topups/").content.decode().split("<tr")[1:] if ticket.number in r)
    assert "Returned by the bank" in row.split("</tr>")[0] and "partly" not in row.split("</tr>")[0]


def credited_converted_then_listed(customer, clerk):
    """710.00 CNY paid into our CNY account, credited 100.00 USD through its ticket at 7.1, then listed on our
    statement (linked to the ticket's credit): the CNY receiving account and the ticket."""
    yuan = yuan_receiving_account()
    chinese_csv_columns(yuan)
    sheet = ExchangeBackend.objects.create(name="finance", base_currency="USD")
    Rate.objects.create(backend=sheet, currency="CNY", value=Decimal("7.1"))
    ticket = make_ticket(customer, yuan, amount=Money("710.00", "CNY"), bank_reference="CN-7788")
    confirm_and_credit(ticket_id=ticket.pk, actor=clerk, received=Money("710.00", "CNY"), bank_reference="CN-7788")
    pay = Entry("710.00", "CN-7788", remittance=f"cloud {payment_reference(customer.account_id)}")
    import_statement(receiving_account_id=yuan.pk, data=csv_statement([pay]), name="a.csv", actor=clerk)
    return yuan, ticket
