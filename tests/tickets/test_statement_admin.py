"""Finance's statements in admin: upload, the lines with their match state and totals, the
unmatched queue's count on the admin home, and assigning a line by hand through a confirmation."""

import re
from datetime import date
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from djmoney.money import Money

from accounts.models import LedgerEntry
from tests.factories import UserFactory
from tests.helpers import hidden_fields, staff_login, through_confirmation
from tests.tickets.conftest import make_ticket
from tests.tickets.statement_files import Entry, camt053
from tests.tickets.test_finance_admin_pages import todo_counts
from tickets.models import ReceivingAccount, StatementFile, StatementLine
from tickets.receiving_accounts import add_receiving_account
from tickets.references import payment_reference
from tickets.review import confirm_and_credit
from tickets.statements.crediting import assign_line

pytestmark = pytest.mark.django_db
UPLOAD = "/admin/tickets/statementfile/add/"
LINES = "/admin/tickets/statementline/"


def upload(client, bank, data, name="statement.xml"):
    return client.post(
        UPLOAD, {"receiving_account": bank.pk, "file": SimpleUploadedFile(name, data, content_type="text/xml")}
    )


def test_finance_uploads_a_statement_sees_its_lines_and_assigns_the_unmatched_one(
    client, clerk, customer, bank, settings
):
    settings.STATEMENT_AUTO_CREDIT = True
    staff_login(client, clerk)
    rf = payment_reference(customer.account_id)
    data = camt053([Entry("120.00", "R-1", creditor_reference=rf), Entry("45.00", "R-2", payer="Unknown Ltd")])
    response = upload(client, bank, data)
    assert response.status_code == 302 and "statement_file__id__exact" in response["Location"]
    page = client.get(response["Location"]).content.decode()
    assert "R-1" in page and "R-2" in page and "Credited" in page and "Unmatched" in page
    assert 'data-testid="statement-totals"' in page and "unmatched lines 1" in page
    counts = todo_counts(client.get("/admin/").content.decode())
    assert counts["unmatched-lines"][0] == 1
    assert "R-2" in client.get(counts["unmatched-lines"][1]).content.decode()

    line = StatementLine.objects.get(bank_reference="R-2")
    bob = UserFactory()
    selection = {"action": "assign_to_account", "_selected_action": [str(line.pk)]}
    confirmation = client.post(LINES, selection)
    assert confirmation.status_code == 200 and b"are you sure" in confirmation.content
    assert b"Unknown Ltd" in confirmation.content
    client.post(LINES, {**selection, "post": "yes", "account_id": str(bob.account_id)})
    line.refresh_from_db()
    assert line.state == "matched" and line.account_id == bob.account_id and line.rule == "manual"
    through_confirmation(client, LINES, {"action": "confirm_lines", "_selected_action": [str(line.pk)]})
    bob.account.refresh_from_db()
    assert bob.account.balance == Money("45.00", "USD")
    assert LedgerEntry.objects.filter(kind="bank_transfer").count() == 2


def test_a_refused_statement_is_explained_on_the_upload_form(client, clerk, bank):
    staff_login(client, clerk)
    response = upload(client, bank, camt053([Entry("10.00", "R-1")], closing="5.00"))
    assert response.status_code == 400 and b"does not add up" in response.content
    assert not StatementFile.objects.exists()


ONE_LINE = camt053([Entry("10.00", "R-1")])  # opening 1,000.00, one credit of 10.00, closing 1,010.00


@pytest.mark.parametrize(
    "data, said",
    [
        pytest.param(
            ONE_LINE.replace(b">10.00<", b">99999999999999999999.00<").replace(
                b">1010.00<", b">100000000000000001000.00<"
            ),
            "larger than a statement can hold",
            id="too-large-it-had-been-stored-then-failed-every-page",
        ),
        pytest.param(ONE_LINE.replace(b">10.00<", b">10.001<"), "fractions of a cent", id="rounded-it-had-been-10.00"),
        pytest.param(
            ONE_LINE.replace(b">10.00<", b">10.004<").replace(b">1010.00<", b">1010.004<"),
            "fractions of a cent",
            id="adds-up-only-rounded",
        ),
        pytest.param(ONE_LINE.replace(b">10.00<", b">1e1<"), "unreadable entry amount", id="exponent-that-adds-up"),
        pytest.param(ONE_LINE.replace(b">10.00<", b">NaN<"), "unreadable entry amount", id="nan"),
        pytest.param(
            b":20:X\r\n:25:DE89370400440532013000\r\n:28C:1/1\r\n:60F:C261201USD1000,00\r\n:61:zzzz\r\n",
            "could not be read",
            id="mt940-that-named-the-parsers-objects",
        ),
    ],
)
def test_a_statement_whose_amounts_are_not_what_a_bank_writes_is_refused_with_nothing_written(
    client, clerk, bank, data, said
):
    """The file is refused on the upload form (400), naming the amount; no file or line is stored. A
    too-large amount had been stored before it failed (a 500), after which the statement pages and every
    import of that day failed too; fractions of a cent had been rounded away."""
    staff_login(client, clerk)
    response = upload(client, bank, data)
    text = response.content.decode()
    assert response.status_code == 400 and said in text, text[:300]
    assert "object at 0x" not in text and "Nothing was imported" in text
    assert not StatementFile.objects.exists() and not StatementLine.objects.exists()
    assert client.get(LINES).status_code == 200


def test_staff_without_the_import_permission_cannot_upload(client, bank):
    staff = UserFactory(account=None, is_staff=True)
    staff_login(client, staff)
    response = upload(client, bank, camt053([Entry("10.00", "R-1")]))
    assert response.status_code == 403 and not StatementFile.objects.exists()


def test_the_lines_totals_are_money_per_currency_never_added_across(client, clerk, bank):
    """A USD and a CNY account's statements listed together: a row of totals each, formatted as money (the
    totals had added 120 USD and 800 CNY into one bare number, printed with a dozen decimals on SQLite)."""
    yuan = add_receiving_account(
        account=ReceivingAccount(
            bank_name="Bank of China", account_name="Billing Center Cloud Ltd", iban="DE89370400440532013000",
            swift_bic="BKCHCNBJ", currency="CNY", region="mainland",
        )
    )  # fmt: skip
    staff_login(client, clerk)
    assert upload(client, bank, camt053([Entry("120.00", "R-1"), Entry("-20.00", "R-2")])).status_code == 302
    cny = camt053([Entry("800.50", "R-3", currency="CNY")], currency="CNY", statement_id="STMT-CNY")
    assert upload(client, yuan, cny, name="cny.xml").status_code == 302
    totals = re.search(r'data-testid="statement-totals">(.*?)</div>', client.get(LINES).content.decode()).group(1)
    assert re.findall(r"<p>(.*?)</p>", totals) == [
        "Credits 800.50 CNY · debits 0.00 CNY · credited 0.00 CNY · unmatched lines 1",
        "Credits 120.00 USD · debits -20.00 USD · credited 0.00 USD · unmatched lines 1",
    ]


def test_confirming_a_line_whose_transfer_a_ticket_credited_says_linked_not_credited(
    client, clerk, customer, bank, settings
):
    """The clerk's message had read "credited 250.00 USD" for a line that was only linked to the
    ticket's earlier credit (the ticket confirmed under the customer's own wording of the reference)."""
    settings.STATEMENT_AUTO_CREDIT = False
    ticket = make_ticket(customer, bank, bank_reference="X-1", transfer_date=date(2026, 12, 1))
    staff_login(client, clerk)
    upload(client, bank, camt053([Entry("250.00", "BANK-77", payer="alice example")]))
    line = StatementLine.objects.get()
    assert line.ticket == ticket and line.state == "matched"
    confirm_and_credit(ticket_id=ticket.pk, actor=clerk, received=Money("250.00", "USD"), bank_reference="X-1")
    response = through_confirmation(
        client, LINES, {"action": "confirm_lines", "_selected_action": [str(line.pk)]}, follow=True
    )
    page = response.content.decode()
    assert f"BANK-77: already credited through {ticket.number}: linked, nothing credited again" in page
    assert "BANK-77: credited" not in page and LedgerEntry.objects.count() == 1


def test_a_statement_files_reconciliation_and_a_lines_page_read_as_money(client, clerk, bank):
    """The reconciliation had read '12334.0500000000 = 22334.0500000000'; a line's page showed its
    notes' stored parts beside them."""
    staff_login(client, clerk)
    upload(client, bank, camt053([Entry("12334.05", "R-1"), Entry("0.10", "R-2")], opening="10000.00"))
    statement = StatementFile.objects.get()
    page = client.get(f"/admin/tickets/statementfile/{statement.pk}/change/").content.decode()
    assert "Opening 10,000.00 USD + lines stored from this file 12,334.15 USD = 22,334.15 USD" in page
    assert "the statement&#x27;s closing balance is 22,334.15 USD." in page and "0000000" not in page
    line = StatementLine.objects.get(bank_reference="R-1")
    page = client.get(f"/admin/tickets/statementline/{line.pk}/change/").content.decode()
    assert "No RF reference, invoice, bill or ticket names this transfer." in page and '"text":' not in page


def test_the_same_file_imported_again_says_so(client, clerk, bank):
    """The clerk had landed on an empty list of '0 new' lines with no word that the file was in already."""
    staff_login(client, clerk)
    data = camt053([Entry("10.00", "R-1")])
    client.get(upload(client, bank, data)["Location"])  # the first import's list and message, read
    again = client.get(upload(client, bank, data)["Location"]).content.decode()
    assert "This file was imported already, on " in again and f"by {clerk.username}: none of its lines is new." in again
    assert StatementLine.objects.count() == 1
    # Its lines are listed, where the first upload brought them; no "Imported … 0 unmatched" beside the warning.
    assert "R-1" in again and "Imported " not in again


def test_a_statement_that_does_not_open_where_the_last_one_closed_warns_of_one_missing(client, clerk, bank):
    """A statement in between, and its transfers, may be missing: the clerk is told (it had been imported without a
    word; found by a helper). One that follows on, or lists days again, says nothing of it."""
    staff_login(client, clerk)
    first = camt053([Entry("100.00", "R-1", booked=date(2026, 12, 1))], statement_id="S1", opening="1000.00")
    followed = camt053([Entry("50.00", "R-2", booked=date(2026, 12, 2))], statement_id="S2", opening="1100.00")
    gap = camt053([Entry("20.00", "R-3", booked=date(2026, 12, 4))], statement_id="S3", opening="3150.00")
    again = camt053([Entry("50.00", "R-2", booked=date(2026, 12, 2))], statement_id="S2-again", opening="1100.00")
    missing = "a statement in between may be missing, and its transfers are credited only once it is imported"
    for data in (first, followed):
        assert missing not in client.get(upload(client, bank, data)["Location"]).content.decode()
    page = client.get(upload(client, bank, gap)["Location"]).content.decode()
    assert (
        "This statement opens at 3,150.00 USD, but the one imported before it for this account closed at 1,150.00 USD"
        in page
    )
    assert missing not in client.get(upload(client, bank, again)["Location"]).content.decode()  # days listed again


def test_a_proposed_line_shows_in_the_list_and_is_counted_as_awaiting_a_second_user(
    client, clerk, customer, bank, settings
):
    """A line's proposal had shown only on its own page, and was counted among the lines to confirm."""
    settings.STATEMENT_AUTO_CREDIT = False
    settings.TICKET_SECOND_APPROVAL_ABOVE = {"USD": Decimal("100")}
    staff_login(client, clerk)
    rf = payment_reference(customer.account_id)
    upload(
        client,
        bank,
        camt053([Entry("500.00", "BIG-1", creditor_reference=rf), Entry("50.00", "SMALL-1", creditor_reference=rf)]),
    )
    line = StatementLine.objects.get(bank_reference="BIG-1")
    through_confirmation(client, LINES, {"action": "confirm_lines", "_selected_action": [str(line.pk)]})
    counts = todo_counts(client.get("/admin/").content.decode())
    assert counts["lines-awaiting-approval"][0] == 1 and counts["lines-to-confirm"][0] == 1
    waiting = client.get(counts["lines-awaiting-approval"][1]).content.decode()
    assert "BIG-1" in waiting and "SMALL-1" not in waiting
    assert f"proposed by {clerk.username}; a second finance user confirms it" in waiting
    to_confirm = client.get(counts["lines-to-confirm"][1]).content.decode()
    assert "SMALL-1" in to_confirm and "BIG-1" not in to_confirm


def test_a_tickets_page_shows_the_statement_line_matched_to_it(client, clerk, customer, bank, settings):
    """The ticket read 'Submitted' while its money was on our statement, matched to it (found by a helper)."""
    settings.STATEMENT_AUTO_CREDIT = False
    ticket = make_ticket(customer, bank, bank_reference="HSBC-1", transfer_date=date(2026, 12, 1))
    staff_login(client, clerk)
    page = client.get(f"/admin/tickets/transferticket/{ticket.pk}/change/").content.decode()
    assert "No line of our statements is matched to it yet." in page
    upload(client, bank, camt053([Entry("250.00", "HSBC-1", payer="Someone")]))
    page = client.get(f"/admin/tickets/transferticket/{ticket.pk}/change/").content.decode()
    line = StatementLine.objects.get()
    assert f'/admin/tickets/statementline/{line.pk}/change/">HSBC-1</a> · 250.00 USD · booked 2026-12-01' in page
    assert "Matched, awaiting confirmation" in page


def test_a_line_reassigned_while_the_clerk_reads_the_confirmation_is_not_credited_to_the_new_account(
    client, clerk, bank, customer
):
    """The page named Bob; another clerk assigned the line to Mallory; Yes had credited Mallory (found by a helper)."""
    staff_login(client, clerk)
    upload(client, bank, camt053([Entry("45.00", "R-45", payer="Unknown Ltd")]))
    line = StatementLine.objects.get()
    bob, mallory = UserFactory(), UserFactory()
    assign_line(line_id=line.pk, account_id=bob.account_id, actor=clerk)
    selection = {"action": "confirm_lines", "_selected_action": [str(line.pk)]}
    page = client.post(LINES, selection)
    assert f"(#{bob.account_id})" in page.content.decode()
    assign_line(line_id=line.pk, account_id=mallory.account_id, actor=clerk)

    stale = client.post(LINES, {**hidden_fields(page), **selection, "post": "yes"}, follow=True)
    assert "assigned to another account since your page showed it" in stale.content.decode()
    assert not LedgerEntry.objects.exists()
    through_confirmation(client, LINES, selection)  # opened again, it names Mallory: credited knowingly
    assert LedgerEntry.objects.get().account_id == mallory.account_id


def test_the_csv_format_form_says_columns_are_named_by_their_heading(client):
    from accounts.models import User

    operator = User.objects.create_superuser("operator", "ops@example.com", "x-secret-pass-1")
    staff_login(client, operator)
    page = client.get("/admin/tickets/statementcsvformat/add/").content.decode()
    assert "Name each column by its heading in the bank's export, exactly as written" in page


def test_confirming_lines_says_what_they_credit_in_all_and_which_ticket_each_closes(
    client, clerk, customer, bank, settings
):
    """The clerk had confirmed three lines with no total, and learnt after that one closed a ticket (found by a
    helper)."""
    settings.STATEMENT_AUTO_CREDIT = False
    ticket = make_ticket(customer, bank, bank_reference="FT-TICKET", amount=Money("45.00", "USD"))
    rf = payment_reference(customer.account_id)
    entries = [Entry("120.00", "R-1", creditor_reference=rf), Entry("45.00", "FT-TICKET")]
    staff_login(client, clerk)
    upload(client, bank, camt053(entries))
    lines = StatementLine.objects.order_by("pk")
    assert [line.state for line in lines] == ["matched", "matched"]
    selection = {"action": "confirm_lines", "_selected_action": [str(line.pk) for line in lines]}
    page = client.post(LINES, selection).content.decode()
    assert f"Closes ticket {ticket.number} as credited." in page
    assert "In all: 165.00 USD" in page


def test_a_line_is_assigned_by_the_accounts_name_or_number(client, clerk, bank):
    """The form had asked for the bare number (found by a helper); a name several accounts bear asks for it."""
    staff_login(client, clerk)
    upload(client, bank, camt053([Entry("45.00", "R-2", payer="Unknown Ltd")]))
    line = StatementLine.objects.get()
    bob = UserFactory(account__name="Bob's Shop")
    UserFactory(account__name="Twin"), UserFactory(account__name="twin")
    selection = {"action": "assign_to_account", "_selected_action": [str(line.pk)], "post": "yes"}

    twins = client.post(LINES, {**selection, "account_id": "Twin"})
    assert twins.status_code == 400 and "Several accounts are named Twin (#" in twins.content.decode()
    unknown = client.post(LINES, {**selection, "account_id": "Nobody"})
    assert unknown.status_code == 400 and "No account has the number or name Nobody." in unknown.content.decode()
    assert StatementLine.objects.get().state == "unmatched"
    client.post(LINES, {**selection, "account_id": " bob's shop "})
    assert StatementLine.objects.get().account_id == bob.account_id
