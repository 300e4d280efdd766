"""Setting a statement line aside: a credit on our statement that no customer is to get (returned to
the payer, bank interest) leaves finance's to-do list with the reason, the clerk's words, who and
when; it cannot be credited, nor its transfer through a ticket, until it is put back."""

import pytest
from django.contrib.auth.models import Permission
from django.utils import translation
from djmoney.money import Money

from accounts.models import LedgerEntry
from money.errors import Conflict, Invalid, Refused
from tests.factories import PostpaidAccountFactory, UserFactory
from tests.helpers import staff_login, through_confirmation
from tests.tickets.conftest import make_ticket, usd_receiving_account
from tests.tickets.statement_files import Entry, camt053
from tests.tickets.test_finance_admin_pages import todo_counts
from tests.tickets.test_statement_admin import LINES, upload
from tickets.exceptions import TicketStateError
from tickets.models import StatementLine, TransferTicket
from tickets.references import payment_reference
from tickets.review import approve_credit, confirm_and_credit
from tickets.statements.crediting import assign_line, confirm_line
from tickets.statements.importing import import_statement
from tickets.statements.setting_aside import put_back_line, set_aside_line

pytestmark = pytest.mark.django_db


def act(client, action, line, **data):
    return client.post(LINES, {"action": action, "_selected_action": [str(line.pk)], **data}, follow=True)


def test_a_line_nobody_can_place_is_set_aside_with_why_and_leaves_the_to_do_list(client, clerk, bank):
    staff_login(client, clerk)
    upload(client, bank, camt053([Entry("45.00", "R-2", payer="Unknown Ltd")]))
    line = StatementLine.objects.get()
    assert todo_counts(client.get("/admin/").content.decode())["unmatched-lines"][0] == 1

    form = client.post(LINES, {"action": "set_aside", "_selected_action": [str(line.pk)]})
    page = form.content.decode()
    assert form.status_code == 200 and "Unknown Ltd" in page and "Returned to the payer" in page
    assert 'name="note"' in page and "Not a customer payment" in page
    for blank in ({"reason": "returned", "note": "   "}, {"note": "sent back"}, {"reason": "kept", "note": "x"}):
        refused = client.post(
            LINES, {"action": "set_aside", "_selected_action": [str(line.pk)], "post": "yes", **blank}
        )
        assert refused.status_code == 400 and b'class="errorlist' in refused.content
    line.refresh_from_db()
    assert line.state == "unmatched" and not line.set_aside_note

    done = act(client, "set_aside", line, post="yes", reason="returned", note="Sent back 2 Dec, our ref RT-88")
    assert "R-2: set aside: returned to the payer" in done.content.decode()
    line.refresh_from_db()
    assert (line.state, line.set_aside_reason, line.set_aside_by) == ("set_aside", "returned", clerk)
    assert line.set_aside_note == "Sent back 2 Dec, our ref RT-88" and line.set_aside_at is not None
    assert f"Set aside by {clerk} on " in line.shown_explanation
    assert "returned to the payer: Sent back 2 Dec, our ref RT-88" in line.shown_explanation
    assert todo_counts(client.get("/admin/").content.decode())["unmatched-lines"][0] == 0
    with translation.override("zh-hans"):
        assert "退回付款人" in line.shown_explanation and "Sent back 2 Dec" in line.shown_explanation
    assert not LedgerEntry.objects.exists()


def test_a_line_in_another_currency_is_to_do_until_returned_and_again_once_put_back(client, clerk, bank):
    staff_login(client, clerk)
    upload(client, bank, camt053([Entry("50.00", "R-EUR", currency="EUR")]))
    line = StatementLine.objects.get()
    assert line.state == "other_currency"
    counts = todo_counts(client.get("/admin/").content.decode())
    assert (
        counts["other-currency-lines"][0] == 1
        and "R-EUR" in client.get(counts["other-currency-lines"][1]).content.decode()
    )

    act(client, "set_aside", line, post="yes", reason="returned", note="EUR sent back by the bank")
    assert todo_counts(client.get("/admin/").content.decode())["other-currency-lines"][0] == 0

    done = act(client, "put_back", line, post="yes")
    assert "R-EUR: put back: other currency, to return or set aside" in done.content.decode()
    line.refresh_from_db()
    assert line.state == "other_currency" and line.set_aside_reason == "" and line.set_aside_by is None
    assert "Put back to be credited by" in line.shown_explanation and "EUR sent back" in line.shown_explanation
    assert todo_counts(client.get("/admin/").content.decode())["other-currency-lines"][0] == 1


def test_a_set_aside_line_is_not_credited_until_put_back_and_then_credits_once(client, clerk, bank):
    staff_login(client, clerk)
    upload(client, bank, camt053([Entry("45.00", "R-2")]))
    line = StatementLine.objects.get()
    bob = UserFactory()
    assign_line(line_id=line.pk, account_id=bob.account_id, actor=clerk)
    set_aside_line(line_id=line.pk, actor=clerk, reason="not_a_payment", note="The bank's interest for November")

    selection = {"action": "confirm_lines", "_selected_action": [str(line.pk)]}
    refused = through_confirmation(client, LINES, selection, follow=True).content.decode()
    assert "R-2: This line is set aside, not credited; put it back first to credit it." in refused
    with pytest.raises(Conflict):
        assign_line(line_id=line.pk, account_id=bob.account_id, actor=clerk)
    assert not LedgerEntry.objects.exists()

    put_back_line(line_id=line.pk, actor=clerk)
    line.refresh_from_db()
    assert line.state == "matched" and line.account_id == bob.account_id  # as it was: assigned to bob
    assert confirm_line(line_id=line.pk, actor=clerk).credited
    bob.account.refresh_from_db()
    assert bob.account.balance == Money("45.00", "USD")


def test_a_ticket_for_a_transfer_set_aside_as_returned_is_not_credited(clerk, customer, bank, settings):
    settings.STATEMENT_AUTO_CREDIT = False
    ticket = make_ticket(customer, bank, bank_reference="FT 77", amount=Money("250.00", "USD"))
    statement = camt053([Entry("250.00", "FT-OTHER", payer="Nobody We Know")])
    import_statement(receiving_account_id=bank.pk, data=statement, name="s.xml", actor=clerk)
    line = StatementLine.objects.get()
    set_aside_line(line_id=line.pk, actor=clerk, reason="returned", note="Returned, payer unknown")

    with pytest.raises(TicketStateError) as refused:
        confirm_and_credit(ticket_id=ticket.pk, actor=clerk, received=Money("250.00", "USD"), bank_reference="ft-other")
    assert "FT-OTHER was set aside (returned to the payer: “Returned, payer unknown”). Put it back first." in str(
        refused.value.message
    )
    customer.account.refresh_from_db()
    assert customer.account.balance == Money(0, "USD") and not LedgerEntry.objects.exists()

    put_back_line(line_id=line.pk, actor=clerk)
    assert confirm_and_credit(
        ticket_id=ticket.pk, actor=clerk, received=Money("250.00", "USD"), bank_reference="ft-other"
    ).credited
    line.refresh_from_db()
    assert line.state == "credited" and LedgerEntry.objects.count() == 1  # the line linked, not credited again


def test_a_proposal_set_aside_before_the_second_user_approves_is_not_credited(clerk, checker, customer, bank, settings):
    settings.TICKET_SECOND_APPROVAL_ABOVE = {"USD": 100}
    ticket = make_ticket(customer, bank, bank_reference="FT-9", amount=Money("250.00", "USD"))
    import_statement(receiving_account_id=bank.pk, data=camt053([Entry("250.00", "FT-9")]), name="s.xml", actor=clerk)
    line = StatementLine.objects.get()
    assert not confirm_and_credit(
        ticket_id=ticket.pk, actor=clerk, received=Money("250.00", "USD"), bank_reference="FT-9"
    ).credited  # proposed
    set_aside_line(line_id=line.pk, actor=checker, reason="returned", note="The payer asked for it back")
    with pytest.raises(TicketStateError):
        approve_credit(ticket_id=ticket.pk, actor=checker)
    assert not LedgerEntry.objects.exists()


@pytest.mark.parametrize(
    "reason, note, error",
    [
        ("returned", "", Invalid),
        ("returned", " \n\t ", Invalid),
        ("kept", "why", Invalid),
        ("", "why", Invalid),
        ("returned", "x" * 501, Invalid),
    ],
)
def test_setting_aside_needs_a_reason_and_words(clerk, bank, reason, note, error):
    import_statement(receiving_account_id=bank.pk, data=camt053([Entry("5.00", "R-1")]), name="s.xml", actor=clerk)
    line = StatementLine.objects.get()
    with pytest.raises(error):
        set_aside_line(line_id=line.pk, actor=clerk, reason=reason, note=note)
    line.refresh_from_db()
    assert line.state == "unmatched" and not line.explanation_parts[-1]["text"].startswith("Set aside")


def test_only_lines_not_credited_can_be_set_aside_and_only_by_finance(clerk, bank, settings):
    settings.STATEMENT_AUTO_CREDIT = True
    bob = UserFactory()
    entries = [Entry("5.00", "PAID", creditor_reference=payment_reference(bob.account_id)), Entry("-2.00", "FEE")]
    import_statement(receiving_account_id=bank.pk, data=camt053(entries), name="s.xml", actor=clerk)
    credited, debit = StatementLine.objects.get(bank_reference="PAID"), StatementLine.objects.get(bank_reference="FEE")
    assert credited.state == "credited" and debit.state == "debit"
    for line in (credited, debit):
        with pytest.raises(Conflict):
            set_aside_line(line_id=line.pk, actor=clerk, reason="returned", note="no")
    with pytest.raises(Conflict):
        put_back_line(line_id=credited.pk, actor=clerk)
    with pytest.raises(Refused):
        set_aside_line(line_id=credited.pk, actor=bob, reason="returned", note="no")
    assert StatementLine.objects.get(pk=credited.pk).state == "credited"


def test_staff_without_the_credit_permission_get_no_set_aside_action(client, clerk, bank):
    import_statement(receiving_account_id=bank.pk, data=camt053([Entry("5.00", "R-1")]), name="s.xml", actor=clerk)
    staff = UserFactory(is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_statementline"))
    staff_login(client, staff)
    page = client.get(LINES).content.decode()
    assert 'value="confirm_lines"' not in page
    assert 'value="set_aside"' not in page and 'value="put_back"' not in page and "R-1" in page


def test_the_guard_finds_the_set_aside_line_by_its_reference_whatever_account_or_amount_the_ticket_names(
    clerk, customer, bank, settings
):
    """A helper credited a set-aside line's transfer through a ticket that named the retired receiving
    account, and another by typing 50.01 for the statement's 50.00: the guard had matched all four."""
    settings.STATEMENT_AUTO_CREDIT = False
    retired = bank
    current = usd_receiving_account()  # retires `bank`: the customer's ticket still names the old account
    statement = camt053([Entry("250.00", "INT-1", payer="Our bank"), Entry("50.00", "TKT-3")])
    import_statement(receiving_account_id=current.pk, data=statement, name="s.xml", actor=clerk)
    for reference in ("INT-1", "TKT-3"):
        line = StatementLine.objects.get(bank_reference=reference)
        set_aside_line(line_id=line.pk, actor=clerk, reason="not_a_payment", note="bank interest")
    on_old_account = make_ticket(customer, retired, bank_reference="INT-1", amount=Money("250.00", "USD"))
    other_amount = make_ticket(customer, current, bank_reference="TKT-3", amount=Money("50.00", "USD"))

    with pytest.raises(TicketStateError) as refused:
        confirm_and_credit(
            ticket_id=on_old_account.pk, actor=clerk, received=Money("250.00", "USD"), bank_reference="INT-1"
        )
    assert "INT-1 was set aside (not a customer payment: “bank interest”). Put it back first." in refused.value.message
    with pytest.raises(TicketStateError):
        confirm_and_credit(
            ticket_id=other_amount.pk, actor=clerk, received=Money("50.01", "USD"), bank_reference="TKT-3"
        )
    assert not LedgerEntry.objects.exists()

    put_back_line(line_id=StatementLine.objects.get(bank_reference="TKT-3").pk, actor=clerk)
    with pytest.raises(TicketStateError) as refused:  # the statement is what arrived: 50.00, not 50.01
        confirm_and_credit(
            ticket_id=other_amount.pk, actor=clerk, received=Money("50.01", "USD"), bank_reference="TKT-3"
        )
    assert "Our statement shows 50.00 USD for TKT-3, not 50.01 USD." in refused.value.message
    assert confirm_and_credit(
        ticket_id=other_amount.pk, actor=clerk, received=Money("50.00", "USD"), bank_reference="TKT-3"
    ).credited


def test_a_transfer_credited_to_one_account_from_the_statement_is_not_credited_to_another_by_a_ticket(
    clerk, customer, bank, settings
):
    """A helper had a line credited to bob's postpaid account (a repayment) and then alice's ticket for the same
    transfer credited as well (a bank transfer): the same money twice, under two kinds of the same source."""
    settings.STATEMENT_AUTO_CREDIT = False
    bob = UserFactory(username="bob", account=PostpaidAccountFactory(name="Bob's Shop"))
    import_statement(receiving_account_id=bank.pk, data=camt053([Entry("14.00", "UNM-6")]), name="s.xml", actor=clerk)
    line = StatementLine.objects.get()
    assign_line(line_id=line.pk, account_id=bob.account_id, actor=clerk)
    assert confirm_line(line_id=line.pk, actor=clerk).credited
    ticket = make_ticket(customer, bank, bank_reference="UNM-6", amount=Money("14.00", "USD"))

    with pytest.raises(TicketStateError) as refused:
        confirm_and_credit(ticket_id=ticket.pk, actor=clerk, received=Money("14.00", "USD"), bank_reference="UNM-6")
    credited_to_bob = f"UNM-6 was credited to Bob's Shop (#{bob.account_id}) already: this transfer cannot be credited"
    assert credited_to_bob in refused.value.message
    assert LedgerEntry.objects.count() == 1
    customer.account.refresh_from_db()
    assert customer.account.balance == Money(0, "USD")


def test_the_ledger_takes_money_in_once_per_source_whatever_its_kind(customer):
    """Behind every page's check: a second money-in entry for `bank:X`, of another kind or to another account, is
    refused by the database's one-money-in-per-source constraint and answered as a conflict."""
    from accounts.ledger import credit_deposit
    from bills.settlement import repay

    bob = UserFactory(account=PostpaidAccountFactory())
    paid = {"amount": Money("14.00", "USD"), "kind": "bank_transfer", "source_ref": "bank:X"}
    credit_deposit(account_id=customer.account_id, **paid)
    with pytest.raises(Conflict):
        repay(account_id=bob.account_id, amount=Money("14.00", "USD"), source_ref="bank:X")
    again = credit_deposit(account_id=customer.account_id, **paid)
    assert again.already_credited and LedgerEntry.objects.count() == 1


def test_a_reference_typed_without_its_hyphen_is_the_same_transfer_on_every_path(clerk, customer, bank, settings):
    """A helper credited one transfer twice by typing "BK1005" for the statement's "BK-1005": two tickets of one
    account, a line for one account and a ticket for another, and a ticket before its line all counted it twice."""
    settings.STATEMENT_AUTO_CREDIT = True
    dave = UserFactory(username="dave")
    statement = camt053([Entry("120.00", "BK-1001", creditor_reference=payment_reference(customer.account_id))])
    import_statement(receiving_account_id=bank.pk, data=statement, name="s.xml", actor=clerk)
    assert StatementLine.objects.get().state == "credited"  # to alice, from her RF
    daves = make_ticket(dave, bank, bank_reference="my transfer", amount=Money("120.00", "USD"))
    with pytest.raises(TicketStateError, match="was credited to"):
        confirm_and_credit(ticket_id=daves.pk, actor=clerk, received=Money("120.00", "USD"), bank_reference="bk1001")

    first = make_ticket(customer, bank, bank_reference="BK-1005", amount=Money("100.00", "USD"))
    second = make_ticket(customer, bank, bank_reference="BK 1005 again", amount=Money("100.00", "USD"))
    confirm_and_credit(ticket_id=first.pk, actor=clerk, received=Money("100.00", "USD"), bank_reference="BK-1005")
    with pytest.raises(TicketStateError, match="was already used for"):
        confirm_and_credit(ticket_id=second.pk, actor=clerk, received=Money("100.00", "USD"), bank_reference="BK1005")

    third = make_ticket(customer, bank, bank_reference="BK/1007", amount=Money("60.00", "USD"))
    confirm_and_credit(ticket_id=third.pk, actor=clerk, received=Money("60.00", "USD"), bank_reference="BK1007")
    later = camt053([Entry("60.00", "BK-1007")], statement_id="STMT-2")
    import_statement(receiving_account_id=bank.pk, data=later, name="s2.xml", actor=clerk)
    line = StatementLine.objects.get(bank_reference="BK-1007")
    assert line.state == "credited" and line.ledger_entry == TransferTicket.objects.get(pk=third.pk).ledger_entry

    customer.account.refresh_from_db()
    dave.account.refresh_from_db()
    assert customer.account.balance == Money("280.00", "USD") and dave.account.balance == Money(0, "USD")
    assert LedgerEntry.objects.count() == 3


def test_a_line_in_another_currency_credited_through_its_ticket_leaves_the_list_and_cannot_be_set_aside(
    clerk, customer, bank
):
    """It had stayed 'other currency' after the ticket converted and credited it, so finance could still set it
    aside as returned to the payer (found by a helper)."""
    from djmoney.contrib.exchange.models import ExchangeBackend, Rate

    Rate.objects.create(
        backend=ExchangeBackend.objects.create(name="finance", base_currency="USD"), currency="EUR", value="0.92"
    )
    import_statement(
        receiving_account_id=bank.pk, data=camt053([Entry("50.00", "EU-1", currency="EUR")]), name="s.xml", actor=clerk
    )
    ticket = make_ticket(customer, bank, bank_reference="EU-1", amount=Money("50.00", "EUR"))
    assert confirm_and_credit(
        ticket_id=ticket.pk, actor=clerk, received=Money("50.00", "EUR"), bank_reference="EU-1"
    ).credited
    line = StatementLine.objects.get()
    assert line.state == "credited" and line.ledger_entry == TransferTicket.objects.get(pk=ticket.pk).ledger_entry
    with pytest.raises(Conflict):
        set_aside_line(line_id=line.pk, actor=clerk, reason="returned", note="sent back")
