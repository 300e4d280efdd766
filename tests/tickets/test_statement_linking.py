"""A statement line whose transfer was credited before — through a ticket, or by a line of an earlier
statement — is linked to that credit, never credited again: the import says how many it linked (not
"credited"), the customer is not mailed a second time, and a line that names another account than the
one credited is said on the line and flagged on the account it names."""

from datetime import date
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from djmoney.money import Money

from accounts.models import Account, LedgerEntry, OutboundEmail
from money.errors import Invalid
from tests.factories import UserFactory
from tests.helpers import staff_login, through_confirmation
from tests.tickets.conftest import make_ticket
from tests.tickets.statement_files import Entry, camt053
from tickets.models import StatementLine
from tickets.references import payment_reference
from tickets.review import confirm_and_credit
from tickets.statements.importing import import_statement

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def auto_credit(settings):
    settings.STATEMENT_AUTO_CREDIT = True
    settings.TICKET_SECOND_APPROVAL_ABOVE = {"USD": Decimal("5000")}


def run_import(bank, clerk, data):
    return import_statement(receiving_account_id=bank.pk, data=data, name="statement.xml", actor=clerk)


def balance_of(user) -> Money:
    return Account.objects.get(pk=user.account_id).balance


def test_a_line_naming_bob_whose_transfer_alices_ticket_credited_stays_alices_and_flags_bob(customer, bank, clerk):
    bob = UserFactory(first_name="Bob")
    Account.objects.filter(pk=bob.account_id).update(name="Bob Builder")
    ticket = make_ticket(customer, bank, bank_reference="FT-2611-7")
    confirm_and_credit(ticket_id=ticket.pk, actor=clerk, received=Money("250.00", "USD"), bank_reference="FT-2611-7")
    data = camt053([Entry("250.00", "FT-2611-7", remittance=f"for {payment_reference(bob.account_id)}")])
    result = run_import(bank, clerk, data)
    assert (result.credited, result.linked, result.unmatched) == (0, 1, 0)
    line = StatementLine.objects.get()
    assert line.state == "credited" and line.account_id == customer.account_id and line.ticket_id == ticket.pk
    assert f"Names Bob Builder (#{bob.account_id}), but this transfer was credited to" in line.explanation
    # Credited once, where it was; bob's account waits for finance with what the statement says.
    assert LedgerEntry.objects.count() == 1
    assert balance_of(customer) == Money("250.00", "USD") and balance_of(bob) == Money("0.00", "USD")
    flagged = Account.objects.get(pk=bob.account_id)
    assert flagged.needs_review
    assert "line FT-2611-7 of 250.00 USD names this account" in flagged.review_note
    assert f"credited to {customer.account.name} (#{customer.account_id}) before" in flagged.review_note
    assert not Account.objects.get(pk=customer.account_id).needs_review
    # The bank lists the transfer again the next day: linked again, and bob's note says it once.
    again = camt053(
        [Entry("250.00", "FT-2611-7", remittance=f"for {payment_reference(bob.account_id)}", booked=date(2026, 12, 2))],
        statement_id="S2",
    )
    assert run_import(bank, clerk, again).linked == 1
    assert Account.objects.get(pk=bob.account_id).review_note.count("names this account") == 1


def test_a_line_of_the_same_account_as_its_tickets_credit_flags_nothing(customer, bank, clerk):
    ticket = make_ticket(customer, bank, bank_reference="FT-OWN")
    confirm_and_credit(ticket_id=ticket.pk, actor=clerk, received=Money("80.00", "USD"), bank_reference="FT-OWN")
    result = run_import(
        bank, clerk, camt053([Entry("80.00", "FT-OWN", remittance=payment_reference(customer.account_id))])
    )
    assert (result.credited, result.linked) == (0, 1)
    assert not Account.objects.filter(needs_review=True).exists()
    assert "Names" not in StatementLine.objects.get().explanation


def test_a_transfer_an_earlier_statement_credited_is_linked_and_not_mailed_again(customer, bank, clerk):
    """The bank lists the same transfer again under another booking date (a correction, the next day's
    statement): a new line, the same transfer. It had been marked "Credited" and mailed a second time."""
    rf = payment_reference(customer.account_id)
    first = run_import(bank, clerk, camt053([Entry("120.00", "FT-AGAIN", creditor_reference=rf)]))
    assert (first.credited, first.linked) == (1, 0) and OutboundEmail.objects.count() == 1
    again = camt053([Entry("120.00", "FT-AGAIN", creditor_reference=rf, booked=date(2026, 12, 2))], statement_id="S2")
    second = run_import(bank, clerk, again)
    assert (second.new_lines, second.credited, second.linked) == (1, 0, 1)
    earlier, later = StatementLine.objects.order_by("booking_date")
    assert later.state == "credited" and later.ledger_entry_id == earlier.ledger_entry_id
    assert "Already credited on" in later.explanation and "another line of our statements" in later.explanation
    assert OutboundEmail.objects.count() == 1 and LedgerEntry.objects.count() == 1
    assert balance_of(customer) == Money("120.00", "USD")


def test_without_auto_credit_the_import_counts_what_waits_for_a_clerk(customer, bank, clerk, settings):
    settings.STATEMENT_AUTO_CREDIT = False
    rf = payment_reference(customer.account_id)
    result = run_import(bank, clerk, camt053([Entry("60.00", "FT-WAIT", creditor_reference=rf), Entry("5.00", "X")]))
    assert (result.credited, result.to_confirm, result.unmatched) == (0, 1, 1)


def test_the_upload_message_says_what_was_credited_linked_and_left(client, customer, bank, clerk):
    ticket = make_ticket(customer, bank, bank_reference="FT-MSG-1")
    confirm_and_credit(ticket_id=ticket.pk, actor=clerk, received=Money("40.00", "USD"), bank_reference="FT-MSG-1")
    rf = payment_reference(customer.account_id)
    data = camt053(
        [
            Entry("40.00", "FT-MSG-1", creditor_reference=rf),
            Entry("10.00", "FT-MSG-2", creditor_reference=rf),
            Entry("7.00", "FT-MSG-3", payer="Nobody Known"),
        ]
    )
    staff_login(client, clerk)
    upload = SimpleUploadedFile("statement.xml", data, content_type="application/xml")
    response = client.post(
        "/admin/tickets/statementfile/add/",
        {"receiving_account": bank.pk, "format": "", "file": upload},
        follow=True,
    )
    assert response.status_code == 200
    text = response.content.decode()
    assert "Imported 3 lines (3 new): 1 credited, 1 already credited before, linked, 1 unmatched." in text
    assert balance_of(customer) == Money("50.00", "USD")


def test_a_ticket_for_a_transfer_our_statement_matched_to_bob_is_refused_until_a_clerk_decides(
    customer, bank, clerk, settings
):
    """Bob's RF is on the line, waiting for confirmation, when a clerk confirms alice's ticket for the same
    transfer: refused, saying whose it is matched to. Once the line is assigned to alice, her ticket credits
    it and the line is linked."""
    from tickets.exceptions import TicketStateError
    from tickets.statements.crediting import assign_line

    settings.STATEMENT_AUTO_CREDIT = False
    bob = UserFactory()
    Account.objects.filter(pk=bob.account_id).update(name="Bob Builder")
    run_import(bank, clerk, camt053([Entry("90.00", "FT-BOTH", remittance=payment_reference(bob.account_id))]))
    ticket = make_ticket(customer, bank, bank_reference="FT-BOTH")
    with pytest.raises(TicketStateError) as refused:
        confirm_and_credit(ticket_id=ticket.pk, actor=clerk, received=Money("90.00", "USD"), bank_reference="FT BOTH")
    assert str(refused.value.message) == (
        f"Our statement's line for FT-BOTH waits for confirmation, matched to Bob Builder (#{bob.account_id}) "
        "(rule: RF payment reference). Assign it to this ticket's account, or set it aside, first."
    )
    assert not LedgerEntry.objects.exists()
    line = StatementLine.objects.get()
    assign_line(line_id=line.pk, account_id=customer.account_id, actor=clerk)
    confirm_and_credit(ticket_id=ticket.pk, actor=clerk, received=Money("90.00", "USD"), bank_reference="FT BOTH")
    line.refresh_from_db()
    assert line.state == "credited" and line.ticket_id == ticket.pk
    assert balance_of(customer) == Money("90.00", "USD") and balance_of(bob) == Money("0.00", "USD")


def test_a_transfer_listed_on_two_statements_is_one_record_one_credit_and_counted_once(client, customer, bank, clerk):
    """The customer's Top-up records and their CSV had listed it once per statement ("Credited 200.00 USD"
    three times for one credit), and finance's totals had added it up each time."""
    rf = payment_reference(customer.account_id)
    for day in (1, 2, 3):
        data = camt053([Entry("200.00", "FT-THRICE", creditor_reference=rf, booked=date(2026, 12, day))])
        run_import(bank, clerk, data.replace(b"STMT-2026-12-01", f"STMT-{day}".encode()))
    assert StatementLine.objects.filter(state="credited").count() == 3 and LedgerEntry.objects.count() == 1
    client.force_login(customer)
    records = client.get("/billing/topups/").content.decode()
    assert records.count("FT-THRICE") == 1
    exported = client.get("/billing/topups/?format=csv")
    assert b"".join(exported.streaming_content).decode().count("FT-THRICE") == 1
    client.logout()
    staff_login(client, clerk)
    listing = client.get("/admin/tickets/statementline/").content.decode()
    assert "Credits 600.00 USD · debits 0.00 USD · credited 200.00 USD · unmatched lines 0" in listing


def test_confirming_two_listings_of_one_transfer_credits_the_day_the_bank_booked_it(
    client, customer, bank, clerk, settings
):
    """Both lines selected and confirmed at once: the later listing had taken the credit (and the customer's
    mail said the money arrived that day), the earlier one was linked to it."""
    settings.STATEMENT_AUTO_CREDIT = False
    rf = payment_reference(customer.account_id)
    for day in (4, 5):
        data = camt053([Entry("75.00", "FT-TWICE", creditor_reference=rf, booked=date(2026, 12, day))])
        run_import(bank, clerk, data.replace(b"STMT-2026-12-01", f"STMT-{day}".encode()))
    staff_login(client, clerk)
    ids = [str(pk) for pk in StatementLine.objects.order_by("-pk").values_list("pk", flat=True)]
    through_confirmation(client, "/admin/tickets/statementline/", {"action": "confirm_lines", "_selected_action": ids})
    first, second = StatementLine.objects.order_by("booking_date")
    assert first.state == second.state == "credited" and first.ledger_entry_id == second.ledger_entry_id
    assert "Credited 75.00 USD on" in first.explanation and "Already credited on" in second.explanation
    (mail,) = OutboundEmail.objects.all()
    assert "2026-12-04" in mail.body and balance_of(customer) == Money("75.00", "USD")


def ticket_page_for_bobs_line(client, customer, bank, clerk, reference: str, *, typed: str):
    """A line quoting bob's RF (credited to him with auto-credit on), alice's ticket for its transfer (the
    reference as she typed it), and that ticket's page as finance reads it: (bob, the page)."""
    bob = UserFactory()
    Account.objects.filter(pk=bob.account_id).update(name="Bob Builder")
    run_import(bank, clerk, camt053([Entry("90.00", reference, remittance=payment_reference(bob.account_id))]))
    ticket = make_ticket(customer, bank, bank_reference=typed)
    staff_login(client, clerk)
    return bob, client.get(f"/admin/tickets/transferticket/{ticket.pk}/change/").content.decode()


def test_a_tickets_page_names_the_line_of_its_transfer_matched_to_another_account(
    client, customer, bank, clerk, settings
):
    """The page had said "No line of our statements is matched to it yet" beside the refusal that line caused."""
    settings.STATEMENT_AUTO_CREDIT = False
    bob, page = ticket_page_for_bobs_line(client, customer, bank, clerk, "FT-PAGE", typed="ft page")
    line = StatementLine.objects.get()
    assert f'/admin/tickets/statementline/{line.pk}/change/">FT-PAGE</a> · 90.00 USD' in page
    assert f"for Bob Builder (#{bob.account_id}), not this ticket's account" in page
    assert "No line of our statements is matched to it yet." not in page


def listed_twice(bank, clerk, rf, amount="45.00"):
    """One transfer on two statements, its reference written otherwise the second time; the lines, by date."""
    for day, written in ((1, "FT-TWIN-1"), (2, "FT TWIN 1")):
        entry = Entry(amount, written, creditor_reference=rf, booked=date(2026, 12, day))
        run_import(bank, clerk, camt053([entry], statement_id=f"S{day}"))
    return list(StatementLine.objects.order_by("booking_date"))


def test_a_transfer_set_aside_as_returned_is_not_credited_through_its_other_listing(customer, bank, clerk, settings):
    """The first listing set aside as returned to the payer, the second confirmed: it had been credited too, and
    the payer refunded — the money out twice (found by a helper)."""
    from money.errors import Conflict
    from tickets.statements.crediting import confirm_line
    from tickets.statements.setting_aside import set_aside_line

    settings.STATEMENT_AUTO_CREDIT = False
    first, second = listed_twice(bank, clerk, payment_reference(customer.account_id))
    set_aside_line(line_id=first.pk, actor=clerk, reason="returned", note="Sent back to the payer")
    with pytest.raises(Conflict, match="lists the same transfer and was set aside"):
        confirm_line(line_id=second.pk, actor=clerk)
    assert not LedgerEntry.objects.exists() and balance_of(customer) == Money("0.00", "USD")
    # With auto-credit on, a third listing is not credited either; it says why.
    settings.STATEMENT_AUTO_CREDIT = True
    rf = payment_reference(customer.account_id)
    entry = Entry("45.00", "ft-twin-1", creditor_reference=rf, booked=date(2026, 12, 3))
    result = run_import(bank, clerk, camt053([entry], statement_id="S3"))
    assert result.credited == 0 and not LedgerEntry.objects.exists()
    assert "set aside" in StatementLine.objects.get(booking_date=date(2026, 12, 3)).explanation


def test_confirming_one_listing_links_the_other_which_then_cannot_be_set_aside(customer, bank, clerk, settings):
    """The other listing had stayed "awaiting confirmation", and could be set aside as returned although credited."""
    from money.errors import Conflict
    from tickets.statements.crediting import confirm_line
    from tickets.statements.setting_aside import set_aside_line

    settings.STATEMENT_AUTO_CREDIT = False
    first, second = listed_twice(bank, clerk, payment_reference(customer.account_id))
    assert confirm_line(line_id=second.pk, actor=clerk).credited
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.state == "credited" and first.ledger_entry_id == second.ledger_entry_id
    assert "Already credited on" in first.explanation
    with pytest.raises(Conflict, match="cannot be set aside"):
        set_aside_line(line_id=first.pk, actor=clerk, reason="returned", note="Sent back")
    assert OutboundEmail.objects.count() == 1 and balance_of(customer) == Money("45.00", "USD")


def test_a_tickets_page_says_what_to_do_when_its_transfer_was_credited_to_another_account(
    client, customer, bank, clerk
):
    """It had advised assigning or setting aside a line that, credited, can be neither (found by a helper)."""
    bob, page = ticket_page_for_bobs_line(client, customer, bank, clerk, "FT-BOBS", typed="FT-BOBS")
    assert f"credited to Bob Builder (#{bob.account_id}): this transfer cannot be credited again." in page
    assert "assign the line to it" not in page


def test_a_new_ticket_naming_an_older_credits_reference_with_another_amount_waits_for_finance(customer, bank, clerk):
    """A new transfer given an older one's reference by mistake had been closed at once as that older credit."""
    rf = payment_reference(customer.account_id)
    run_import(bank, clerk, camt053([Entry("250.00", "FT-OLD-1", creditor_reference=rf)]))
    ticket = make_ticket(customer, bank, bank_reference="FT-OLD-1", amount=Money("80.00", "USD"))
    assert ticket.is_open and ticket.ledger_entry_id is None
    same = make_ticket(customer, bank, bank_reference="ft old 1", amount=Money("250.00", "USD"))
    assert same.status == "credited" and LedgerEntry.objects.count() == 1


def test_a_referenced_transfer_into_the_yuan_account_waits_for_the_customers_ticket_which_converts_and_links_it(
    customer, clerk
):
    """What the bank transfer page tells a USD customer paying into the CNY account: the statement line
    that quotes their reference is matched but not credited, finance cannot credit it as it is, and the
    customer's ticket credits it once, converted at the rate locked then, the line linked to that credit."""
    from djmoney.contrib.exchange.models import ExchangeBackend, Rate

    from tests.tickets.conftest import chinese_csv_columns, yuan_receiving_account
    from tests.tickets.statement_files import csv_statement
    from tickets.statements.crediting import confirm_line

    yuan = yuan_receiving_account()
    chinese_csv_columns(yuan)
    data = csv_statement([Entry("710.00", "CN-7788", remittance=f"cloud {payment_reference(customer.account_id)}")])
    result = import_statement(receiving_account_id=yuan.pk, data=data, name="export.csv", actor=clerk)
    assert (result.credited, result.unmatched) == (0, 0)
    line = StatementLine.objects.get()
    assert line.state == "matched" and line.account_id == customer.account_id
    with pytest.raises(Invalid, match="credit it through the customer's Transfer Ticket"):
        confirm_line(line_id=line.pk, actor=clerk)
    line.refresh_from_db()
    assert line.proposed_by_id is None and not LedgerEntry.objects.exists()  # not proposed for a second clerk either

    sheet = ExchangeBackend.objects.create(name="finance", base_currency="USD")
    Rate.objects.create(backend=sheet, currency="CNY", value=Decimal("7.1"))
    ticket = make_ticket(customer, yuan, amount=Money("710.00", "CNY"), bank_reference="CN-7788")
    confirm_and_credit(ticket_id=ticket.pk, actor=clerk, received=Money("710.00", "CNY"), bank_reference="CN-7788")
    assert balance_of(customer) == Money("100.00", "USD")
    line.refresh_from_db()
    assert line.state == "credited" and line.ticket_id == ticket.pk
    assert LedgerEntry.objects.count() == 1
