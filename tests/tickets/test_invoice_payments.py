"""An invoice says whether it has been paid: by a Transfer Ticket that names it and finance credited, or by a line
of our bank statement quoting its number, each transfer counted once. It had said only "Amount due", paid or not
(found by a helper as alice)."""

import io

import pytest
from djmoney.money import Money
from pypdf import PdfReader

from tests.tickets.conftest import make_ticket
from tests.tickets.statement_files import Entry, camt053
from tickets.models import Invoice
from tickets.receiving_accounts import issue_invoice
from tickets.references import payment_reference
from tickets.review import confirm_and_credit
from tickets.statements.importing import import_statement

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def auto_credit(settings):
    settings.STATEMENT_AUTO_CREDIT = True


def invoice_of(user, amount="300.00") -> Invoice:
    return issue_invoice(invoice=Invoice(account=user.account, amount=Money(amount, "USD"), description="Cloud"))


def state_on_pages(client, invoice) -> tuple[str, str]:
    listed = client.get("/billing/invoices/").content.decode()
    row = listed.split(invoice.number, 2)[-1].split("</tr>", 1)[0]
    page = client.get(f"/billing/invoices/{invoice.number}/").content.decode()
    badge = 'data-testid="invoice-state">'
    return row.split(badge, 1)[1].split("<", 1)[0], page.split(badge, 1)[1].split("<", 1)[0]


def test_an_invoice_is_awaiting_payment_then_partly_paid_then_paid_from_our_statements(client, customer, bank, clerk):
    invoice, other = invoice_of(customer), invoice_of(customer, "120.00")
    client.force_login(customer)
    assert state_on_pages(client, invoice) == ("Awaiting payment", "Awaiting payment")
    # The remark is matched on our statement, as the Pay page says of the payment reference: no ticket needed (the
    # invoice had asked for a ticket after every transfer; found by a helper).
    assert (
        "Quoted the remark above on your transfer? You need no ticket"
        in client.get(f"/billing/invoices/{invoice.number}/").content.decode()
    )
    quoted = f"payment {invoice.number.lower()} {payment_reference(customer.account_id)}"  # RF too: still this invoice
    statement = camt053([Entry("100.00", "R-1", remittance=quoted)], statement_id="S1")
    import_statement(receiving_account_id=bank.pk, data=statement, name="s1.xml", actor=clerk)
    assert state_on_pages(client, invoice) == ("Partly paid: 100.00 USD received",) * 2
    statement = camt053([Entry("200.00", "R-2", remittance=invoice.number)], statement_id="S2", opening="1100.00")
    import_statement(receiving_account_id=bank.pk, data=statement, name="s2.xml", actor=clerk)
    assert state_on_pages(client, invoice) == ("Paid", "Paid")
    assert "nothing left to pay" in client.get(f"/billing/invoices/{invoice.number}/").content.decode()
    assert state_on_pages(client, other) == ("Awaiting payment", "Awaiting payment")
    pdf = client.get(f"/billing/invoices/{invoice.number}/pdf/").content
    assert "Paid, as of" in PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
    chinese = client.get("/billing/invoices/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "Awaiting payment" not in chinese and "Paid" not in chinese.split("<main", 1)[1]


def test_a_ticket_and_its_statement_line_for_one_transfer_count_once(client, customer, bank, clerk):
    invoice = invoice_of(customer)
    ticket = make_ticket(customer, bank, invoice=invoice, amount=Money("150.00", "USD"), bank_reference="FT-9")
    confirm_and_credit(ticket_id=ticket.pk, actor=clerk, received=Money("150.00", "USD"), bank_reference="FT-9")
    statement = camt053([Entry("150.00", "FT-9", remittance=invoice.number)])
    import_statement(receiving_account_id=bank.pk, data=statement, name="s.xml", actor=clerk)  # linked, not again
    client.force_login(customer)
    assert state_on_pages(client, invoice) == ("Partly paid: 150.00 USD received",) * 2


def test_another_customers_transfer_quoting_the_number_pays_nothing_of_it(client, customer, bank, clerk):
    invoice = invoice_of(customer)
    from tests.factories import UserFactory

    bob = UserFactory()
    quoted = f"{invoice.number} {payment_reference(bob.account_id)}"  # two accounts named: not customer's payment
    statement = camt053(
        [Entry("300.00", "R-B", creditor_reference=payment_reference(bob.account_id), remittance=quoted)]
    )
    import_statement(receiving_account_id=bank.pk, data=statement, name="s.xml", actor=clerk)
    client.force_login(customer)
    assert state_on_pages(client, invoice)[1] == "Awaiting payment"


def test_an_english_invoice_pdf_is_set_in_helvetica_and_a_chinese_one_in_the_cjk_font(client, customer, bank):
    """Its title, heading and note had been in the CJK font, not embedded: readers spaced the letters oddly."""
    invoice = invoice_of(customer)
    client.force_login(customer)
    english = PdfReader(io.BytesIO(client.get(f"/billing/invoices/{invoice.number}/pdf/").content)).pages[0]
    assert {str(font.get_object()["/BaseFont"]) for font in english["/Resources"]["/Font"].values()} <= {
        "/Helvetica",
        "/Helvetica-Bold",
    }
    chinese = client.get(f"/billing/invoices/{invoice.number}/pdf/", HTTP_ACCEPT_LANGUAGE="zh-hans").content
    fonts = PdfReader(io.BytesIO(chinese)).pages[0]["/Resources"]["/Font"].values()
    assert "/STSong-Light" in {str(font.get_object()["/BaseFont"]) for font in fonts}


def badge(client, invoice) -> str:
    page = client.get(f"/billing/invoices/{invoice.number}/").content.decode()
    return page.split('data-testid="invoice-state">', 1)[1].split("<", 1)[0]


def test_a_transfer_the_bank_returned_and_finance_took_back_pays_nothing(client, customer, bank, clerk):
    """The invoice still said Paid after its transfer was taken back (found by a helper)."""
    from datetime import date

    from tickets.models import StatementLine
    from tickets.statements.take_back import take_back_return

    invoice = invoice_of(customer, "100.00")
    import_statement(
        receiving_account_id=bank.pk, data=camt053([Entry("100.00", "FT-R", remittance=invoice.number)]), name="1",
        actor=clerk,
    )  # fmt: skip
    client.force_login(customer)
    assert badge(client, invoice) == "Paid"
    returned = camt053([Entry("-100.00", "FT-R", booked=date(2026, 12, 2))], statement_id="S2", opening="1100.00")
    import_statement(receiving_account_id=bank.pk, data=returned, name="2", actor=clerk)
    take_back_return(line_id=StatementLine.objects.get(amount__lt=0).pk, actor=clerk)
    assert badge(client, invoice) == "Awaiting payment"
    again = camt053([Entry("100.00", "FT-R", remittance=invoice.number, booked=date(2026, 12, 3))], statement_id="S3")
    import_statement(receiving_account_id=bank.pk, data=again, name="3", actor=clerk)  # booked again: given back
    assert badge(client, invoice) == "Paid"


def test_one_transfer_quoting_two_invoices_pays_the_first_on_every_page(client, customer, bank, clerk):
    """Each invoice's own page had counted the transfer for itself: both said Paid (found by a helper)."""
    first, second = invoice_of(customer, "100.00"), invoice_of(customer, "100.00")
    quoted = camt053([Entry("100.00", "FT-2", remittance=f"{first.number} {second.number}")])
    import_statement(receiving_account_id=bank.pk, data=quoted, name="s", actor=clerk)
    client.force_login(customer)
    assert (badge(client, first), badge(client, second)) == ("Paid", "Awaiting payment")
    assert state_on_pages(client, second)[0] == "Awaiting payment"


def test_a_ticket_naming_one_invoice_and_its_line_quoting_another_pay_only_the_tickets(client, customer, bank, clerk):
    """One transfer of 100.00: its ticket names invoice A, its statement line quotes B; B's own page had counted the
    line for B (found by a helper)."""
    a, b = invoice_of(customer, "100.00"), invoice_of(customer, "100.00")
    ticket = make_ticket(customer, bank, invoice=a, amount=Money("100.00", "USD"), bank_reference="FT-9")
    confirm_and_credit(ticket_id=ticket.pk, actor=clerk, received=Money("100.00", "USD"), bank_reference="FT-9")
    statement = camt053([Entry("100.00", "FT-9", remittance=b.number)])
    import_statement(receiving_account_id=bank.pk, data=statement, name="s.xml", actor=clerk)
    client.force_login(customer)
    assert (badge(client, a), badge(client, b)) == ("Paid", "Awaiting payment")


def test_a_transfer_given_back_pays_its_invoice_again_whatever_its_new_line_says(client, customer, bank, clerk):
    from datetime import date

    from tickets.models import StatementLine
    from tickets.statements.take_back import take_back_return

    invoice = invoice_of(customer, "100.00")
    first = camt053([Entry("100.00", "FT-R", remittance=invoice.number)])
    import_statement(receiving_account_id=bank.pk, data=first, name="1", actor=clerk)
    returned = camt053([Entry("-100.00", "FT-R", booked=date(2026, 12, 2))], statement_id="S2", opening="1100.00")
    import_statement(receiving_account_id=bank.pk, data=returned, name="2", actor=clerk)
    take_back_return(line_id=StatementLine.objects.get(amount__lt=0).pk, actor=clerk)
    again = camt053([Entry("100.00", "FT-R", booked=date(2026, 12, 3))], statement_id="S3")  # no remittance now
    import_statement(receiving_account_id=bank.pk, data=again, name="3", actor=clerk)
    client.force_login(customer)
    assert badge(client, invoice) == "Paid"
