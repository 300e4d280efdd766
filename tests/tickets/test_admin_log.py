"""Finance's actions on transfer tickets, statements and receiving accounts in Django admin's own audit trail
(billing_center.admin_log): each one that went through is listed on the admin home's Recent actions of the clerk who
did it and on the record's History page with who did it, in the reader's language; a refused one, a repeat that
changed nothing and what a customer did are not."""

from datetime import date

import pytest
from django.contrib.admin.models import LogEntry
from django.core.files.uploadedfile import SimpleUploadedFile
from djmoney.money import Money

from accounts.models import User
from tests.factories import UserFactory
from tests.helpers import admin_history, recent_actions, staff_login, through_confirmation
from tests.tickets.conftest import make_ticket, pdf_bytes, ticket_form_data, upload
from tests.tickets.statement_files import Entry, camt053
from tickets.models import StatementFile, StatementLine, TransferTicket
from tickets.references import payment_reference

pytestmark = pytest.mark.django_db
TICKETS = "/admin/tickets/transferticket/"
LINES = "/admin/tickets/statementline/"


def act(client, name, ticket, **fields):
    """An action on one ticket as its page's buttons send it: the confirmation page, then Yes."""
    return through_confirmation(
        client, f"{TICKETS}?due=all", {"action": name, "_selected_action": [ticket.pk], **fields}
    )


def confirm(client, ticket, amount="250.00", reference="STMT-1"):
    prefix = f"t{ticket.pk}"
    fields = {f"{prefix}-received_amount": amount, f"{prefix}-received_currency": "USD"}
    return act(client, "confirm_and_credit", ticket, **fields, **{f"{prefix}-bank_reference": reference})


def ticket_history(client, ticket):
    return admin_history(client, f"{TICKETS}{ticket.pk}/history/")


def line_history(client, line):
    return admin_history(client, f"{LINES}{line.pk}/history/")


def test_a_ticket_confirmed_and_credited_is_on_recent_actions_and_its_history_once(client, clerk, customer, bank):
    ticket = make_ticket(customer, bank)
    staff_login(client, clerk)
    assert recent_actions(client) == []
    assert confirm(client, ticket).status_code == 302
    confirm(client, ticket)  # a double click: "already credited", nothing changed
    assert recent_actions(client) == [f"{ticket.number} Transfer ticket Confirmed and credited 250.00 USD"]
    assert ticket_history(client, ticket) == [("fiona", "Confirmed and credited 250.00 USD")]
    entry = LogEntry.objects.get()
    assert (entry.user, entry.object_repr, entry.is_change()) == (clerk, ticket.number, True)
    assert "Changed status" in entry.get_change_message()  # Django's own reader names the fields, translated


def test_a_large_credit_proposed_then_approved_is_each_clerks_own_action(client, clerk, checker, customer, bank):
    ticket = make_ticket(customer, bank, amount=Money("25000.00", "USD"))
    staff_login(client, clerk)
    confirm(client, ticket, amount="25000.00")
    staff_login(client, checker)
    assert act(client, "approve_credit", ticket).status_code == 302
    assert recent_actions(client) == [
        f"{ticket.number} Transfer ticket Approved the proposed credit: 25,000.00 USD credited"
    ]
    assert ticket_history(client, ticket) == [
        ("fiona", "Confirmed; the credit of 25,000.00 USD is proposed for a second approval"),
        ("frank", "Approved the proposed credit: 25,000.00 USD credited"),
    ]
    staff_login(client, clerk)
    assert recent_actions(client) == [
        f"{ticket.number} Transfer ticket Confirmed; the credit of 25,000.00 USD is proposed for a second approval"
    ]


def test_a_proposal_withdrawn_a_request_for_information_a_review_and_a_rejection_each_say_what(
    client, clerk, checker, customer, bank
):
    withdrawn, asked, rejected = (  # each its own certificate: the same file twice is a possible duplicate
        make_ticket(customer, bank, bank_reference=f"FT-{n}", amount=amount, files=[upload(content=pdf_bytes(str(n)))])
        for n, amount in ((1, Money("20000.00", "USD")), (2, Money("250.00", "USD")), (3, Money("250.00", "USD")))
    )
    staff_login(client, clerk)
    confirm(client, withdrawn, amount="20000.00")
    staff_login(client, checker)
    act(client, "withdraw_proposal", withdrawn, why="The statement says 2,000.00")
    act(client, "request_information", asked, reason="Send the statement page, please.")
    act(client, "start_review", rejected)
    act(client, "start_review", rejected)  # under review already: nothing changed
    act(client, "reject", rejected, reason="No such transfer on our statement.")
    assert ticket_history(client, withdrawn)[-1] == (
        "frank",
        "Withdrew the proposed credit of 20,000.00 USD: The statement says 2,000.00",
    )
    assert ticket_history(client, asked) == [
        ("frank", "Asked the customer for more information: Send the statement page, please.")
    ]
    assert ticket_history(client, rejected) == [
        ("frank", "Marked as under review"),
        ("frank", "Rejected: No such transfer on our statement."),
    ]
    assert (
        recent_actions(client)[0] == f"{rejected.number} Transfer ticket Rejected: No such transfer on our statement."
    )
    assert len(recent_actions(client)) == 4


def test_a_refused_action_leaves_nothing_in_the_trail(client, clerk, checker, customer, bank):
    ticket = make_ticket(customer, bank, amount=Money("25000.00", "USD"))
    staff_login(client, clerk)
    assert act(client, "reject", ticket, reason="").status_code == 400  # the form wants a reason
    confirm(client, ticket, amount="25000.00")
    before = LogEntry.objects.count()
    refused = act(client, "approve_credit", ticket)  # the maker approving their own proposal
    assert "A second, different finance user must approve" in str(list(refused.wsgi_request._messages))
    staff_login(client, checker)
    confirm(client, ticket, amount="25000.00", reference="STMT-2")  # a proposal waits: approve or reject it
    assert LogEntry.objects.count() == before == 1
    assert recent_actions(client) == []


def test_a_ticket_the_customer_submits_is_not_shown_as_finances_doing(client, clerk, customer, bank):
    client.force_login(customer)
    assert client.post("/billing/tickets/new/", ticket_form_data(bank)).status_code == 303
    ticket = TransferTicket.objects.get()
    assert not LogEntry.objects.exists()
    staff_login(client, clerk)
    assert recent_actions(client) == []
    page = client.get(f"{TICKETS}{ticket.pk}/history/").content.decode()
    assert "No one has acted on it in admin yet." in page
    assert ticket_history(client, ticket) == []


def test_each_clerk_reads_the_trail_in_their_own_language(client, clerk, checker, customer, bank):
    ticket = make_ticket(customer, bank)
    staff_login(client, clerk)
    confirm(client, ticket)
    User.objects.filter(pk=checker.pk).update(language="zh-hans")
    staff_login(client, checker)
    [(who, what)] = ticket_history(client, ticket)
    assert (who, what) == ("fiona", "已确认并入账 US$250.00")
    staff_login(client, clerk)
    assert ticket_history(client, ticket) == [("fiona", "Confirmed and credited 250.00 USD")]


def import_file(client, bank, entries, statement_id, opening="1000.00"):
    data = camt053(entries, opening=opening, statement_id=statement_id)
    file = SimpleUploadedFile(f"{statement_id}.xml", data, content_type="text/xml")
    return client.post("/admin/tickets/statementfile/add/", {"receiving_account": bank.pk, "file": file})


def on_lines(client, action, line, **fields):
    return through_confirmation(client, LINES, {"action": action, "_selected_action": [line.pk], **fields})


def test_statement_lines_imported_assigned_credited_set_aside_put_back_and_taken_back(
    client, clerk, customer, bank, settings
):
    settings.STATEMENT_AUTO_CREDIT = True
    bob = UserFactory(username="bob", account__name="Bob's Shop")
    staff_login(client, clerk)
    paid = Entry("100.00", "FT-RET", creditor_reference=payment_reference(customer.account_id))
    import_file(client, bank, [paid, Entry("45.00", "R-2", payer="Unknown Ltd"), Entry("9.00", "R-3")], "S1")
    statement = StatementFile.objects.get()
    assert admin_history(client, f"/admin/tickets/statementfile/{statement.pk}/history/") == [
        ("fiona", "Lines imported: 3 (new: 3); credited: 1, to confirm: 0, unmatched: 2")
    ]
    unknown, interest = StatementLine.objects.get(bank_reference="R-2"), StatementLine.objects.get(bank_reference="R-3")
    on_lines(client, "assign_to_account", unknown, account_id=str(bob.account_id))
    on_lines(client, "confirm_lines", unknown)
    on_lines(client, "confirm_lines", unknown)  # again: credited already, nothing changed
    on_lines(client, "set_aside", interest, reason="not_a_payment", note="The bank's interest for November.")
    on_lines(client, "set_aside", interest, reason="returned", note="Again")  # refused: set aside already
    on_lines(client, "put_back", interest)
    bob_label = f"Bob's Shop (#{bob.account_id})"
    assert line_history(client, unknown) == [
        ("fiona", f"Assigned to account {bob_label}"),
        ("fiona", f"Confirmed and credited 45.00 USD to {bob_label}"),
    ]
    assert line_history(client, interest) == [
        ("fiona", "Set aside, not a customer payment: The bank's interest for November."),
        ("fiona", "Put back to be credited"),
    ]

    returned = Entry("-100.00", "FT-RET", remittance="RETURN AC04 account closed", booked=date(2026, 12, 2))
    import_file(client, bank, [returned], "S2", opening="1154.00")
    debit = StatementLine.objects.get(amount__lt=0)
    on_lines(client, "take_back", debit)
    on_lines(client, "take_back", debit)  # a double click: taken back already
    account = f"{customer.account.name} (#{customer.account_id})"
    assert line_history(client, debit) == [("fiona", f"Taken back 100.00 USD from {account}")]
    assert recent_actions(client)[:2] == [
        f"{debit} Statement line Taken back 100.00 USD from {account}",
        "S2.xml (S2) Statement file Lines imported: 1 (new: 1); credited: 0, to confirm: 0, unmatched: 0",
    ]
    assert LogEntry.objects.filter(user=clerk).count() == 7


def test_retiring_a_receiving_account_and_its_ticket_window_are_on_its_history(client, clerk, bank):
    staff_login(client, clerk)
    url = "/admin/tickets/receivingaccount/"
    client.post(url, {"action": "retire", "_selected_action": [bank.pk]})
    client.post(url, {"action": "retire", "_selected_action": [bank.pk]})  # retired already
    client.post(url, {"action": "close_ticket_window", "_selected_action": [bank.pk]})
    bank.refresh_from_db()
    assert admin_history(client, f"{url}{bank.pk}/history/") == [
        ("fiona", "Retired: no longer shown to customers"),
        ("fiona", "Transfer Tickets naming it no longer accepted"),
    ]
