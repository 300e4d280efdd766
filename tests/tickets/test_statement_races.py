"""Statements racing on PostgreSQL: the same statement imported by two clerks at once while the
customer's tickets for two of its lines are confirmed — each transfer is credited exactly once.

One ticket names its line's bank reference (the import matches it and closes it); the other was
filed under a reference the statement does not show, and the clerk confirms it typing the
line's reference: the import matched that line by its RF alone and credits it with the rest of
its chunk, so whichever comes second finds the transfer credited and links to it.

A line confirmed by one clerk while another sets it aside ends credited or set aside, never both."""

from datetime import date

import pytest
from djmoney.money import Money

from accounts.models import LedgerEntry
from accounts.verification import ledger_mismatches
from money.errors import Conflict
from tests.concurrency.test_races import race
from tests.factories import UserFactory
from tests.tickets.conftest import finance_clerk, make_ticket
from tests.tickets.statement_files import Entry, camt053
from tickets.exceptions import TicketStateError
from tickets.models import StatementLine, TransferTicket
from tickets.references import payment_reference
from tickets.review import confirm_and_credit
from tickets.statements.crediting import assign_line, confirm_line
from tickets.statements.importing import import_statement
from tickets.statements.setting_aside import set_aside_line

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("round_", range(6))
def test_two_imports_of_one_statement_and_a_ticket_confirmation_credit_each_transfer_once(
    customer, bank, clerk, checker, finance_group, settings, round_
):
    settings.STATEMENT_AUTO_CREDIT = True
    settings.TICKET_SECOND_APPROVAL_ABOVE = {"USD": 5000}
    third = finance_clerk(finance_group, "gina")
    bob = UserFactory()
    alice_rf, bob_rf = payment_reference(customer.account_id), payment_reference(bob.account_id)
    ticket = make_ticket(customer, bank, bank_reference="FT-TICKET", amount=Money("250.00", "USD"))
    retyped = make_ticket(customer, bank, bank_reference="MY OWN NOTE", amount=Money("12.00", "USD"))
    entries = [
        Entry("250.00", "FT-TICKET", creditor_reference=alice_rf),
        *[Entry(f"{10 + i}.00", f"A-{i}", remittance=alice_rf.lower()) for i in range(5)],
        *[Entry(f"{20 + i}.00", f"B-{i}", creditor_reference=bob_rf) for i in range(5)],
        Entry("-5.00", "FEE"),
    ]
    data = camt053(entries)

    def run_import(actor):
        return lambda: import_statement(receiving_account_id=bank.pk, data=data, name="s.xml", actor=actor)

    def confirm():
        return confirm_and_credit(
            ticket_id=ticket.pk, actor=third, received=Money("250.00", "USD"), bank_reference="FT-TICKET"
        )

    def confirm_retyped():
        return confirm_and_credit(
            ticket_id=retyped.pk, actor=third, received=Money("12.00", "USD"), bank_reference="A-2"
        )

    results = race([run_import(clerk), run_import(checker), confirm, confirm_retyped])

    assert not [r for r in results if isinstance(r, Exception)], results
    assert StatementLine.objects.count() == 12
    assert StatementLine.objects.filter(state="credited").count() == 11
    assert LedgerEntry.objects.filter(kind="bank_transfer").count() == 11
    ticket.refresh_from_db()
    line = StatementLine.objects.get(bank_reference="FT-TICKET")
    assert ticket.status == TransferTicket.Status.CREDITED and ticket.ledger_entry_id == line.ledger_entry_id
    retyped.refresh_from_db()
    line = StatementLine.objects.get(bank_reference="A-2")
    assert retyped.status == TransferTicket.Status.CREDITED and retyped.ledger_entry_id == line.ledger_entry_id
    customer.account.refresh_from_db()
    bob.account.refresh_from_db()
    assert customer.account.balance == Money(250 + 10 + 11 + 12 + 13 + 14, "USD")
    assert bob.account.balance == Money(20 + 21 + 22 + 23 + 24, "USD")
    assert ledger_mismatches() == []


@pytest.mark.parametrize("round_", range(4))
def test_a_line_confirmed_and_set_aside_at_once_is_one_or_the_other(clerk, checker, bank, round_):
    bob = UserFactory()
    import_statement(receiving_account_id=bank.pk, data=camt053([Entry("45.00", "R-1")]), name="s.xml", actor=clerk)
    line = StatementLine.objects.get()
    assign_line(line_id=line.pk, account_id=bob.account_id, actor=clerk)

    credit, aside = race(
        [
            lambda: confirm_line(line_id=line.pk, actor=checker),
            lambda: set_aside_line(line_id=line.pk, actor=clerk, reason="returned", note="Sent back"),
        ]
    )

    line.refresh_from_db()
    bob.account.refresh_from_db()
    if line.state == "credited":
        assert credit.credited and isinstance(aside, Conflict), aside
        assert bob.account.balance == Money("45.00", "USD") and line.set_aside_by is None
    else:
        assert line.state == "set_aside" and isinstance(credit, Conflict), credit
        assert bob.account.balance == Money(0, "USD") and not LedgerEntry.objects.exists()
    assert ledger_mismatches() == []


@pytest.mark.parametrize("round_", range(4))
def test_one_transfer_raced_as_a_ticket_for_one_account_and_a_line_for_another_is_credited_once(
    customer, bank, clerk, checker, round_
):
    """The pages' checks cannot see each other mid-flight (the ticket path locks the ticket, the line path the
    line): the ledger's one-money-in-per-source constraint is what keeps bob's repayment and alice's bank
    transfer of the same statement reference from both landing."""
    from tests.factories import PostpaidAccountFactory

    bob = UserFactory(account=PostpaidAccountFactory(name="Bob's Shop"))
    import_statement(receiving_account_id=bank.pk, data=camt053([Entry("14.00", "UNM-6")]), name="s.xml", actor=clerk)
    line = StatementLine.objects.get()
    assign_line(line_id=line.pk, account_id=bob.account_id, actor=clerk)
    ticket = make_ticket(customer, bank, bank_reference="MY-NOTE", amount=Money("14.00", "USD"))

    results = race(
        [
            lambda: confirm_line(line_id=line.pk, actor=checker),
            lambda: confirm_and_credit(
                ticket_id=ticket.pk, actor=clerk, received=Money("14.00", "USD"), bank_reference="UNM-6"
            ),
        ]
    )

    refused = [r for r in results if isinstance(r, Exception)]
    assert len(refused) == 1 and all(isinstance(r, (Conflict, TicketStateError)) for r in refused), results
    assert LedgerEntry.objects.filter(source_ref=f"bank:{bank.pk}:UNM6").count() == 1
    assert ledger_mismatches() == []


@pytest.mark.parametrize("round_", range(4))
def test_two_listings_of_one_transfer_raced_as_set_aside_and_confirmed_end_one_or_the_other(
    customer, bank, clerk, checker, settings, round_
):
    """The bank lists one transfer on two statements (the reference written otherwise the second time). A clerk
    sets one listing aside as returned while another confirms the other: they had both gone through (found by
    a helper: 4 of 8 raced transfers credited and returned). The transfer's lock makes one wait for the other."""
    settings.STATEMENT_AUTO_CREDIT = False
    rf = payment_reference(customer.account_id)
    for day, written in ((1, "FT-TWIN-7"), (2, "FT TWIN 7")):
        entry = Entry("45.00", written, creditor_reference=rf, booked=date(2026, 12, day))
        data = camt053([entry], statement_id=f"S{day}")
        import_statement(receiving_account_id=bank.pk, data=data, name=f"s{day}.xml", actor=clerk)
    first, second = StatementLine.objects.order_by("booking_date")

    credit, aside = race(
        [
            lambda: confirm_line(line_id=second.pk, actor=checker),
            lambda: set_aside_line(line_id=first.pk, actor=clerk, reason="returned", note="Sent back"),
        ]
    )

    states = dict(StatementLine.objects.values_list("pk", "state"))
    customer.account.refresh_from_db()
    if isinstance(aside, Conflict):  # the confirmation went first: credited once
        # The other listing is linked, or, when the clerk setting it aside held its row, left to be linked by its
        # own confirmation: "awaiting confirmation", never set aside.
        assert credit.credited and states[second.pk] == "credited" and states[first.pk] in ("credited", "matched")
        assert customer.account.balance == Money("45.00", "USD") and LedgerEntry.objects.count() == 1
    else:  # the setting aside went first: nothing credited
        assert isinstance(credit, Conflict), credit
        assert states[first.pk] == "set_aside" and states[second.pk] == "matched"
        assert customer.account.balance == Money("0.00", "USD") and not LedgerEntry.objects.exists()
    assert ledger_mismatches() == []


@pytest.mark.parametrize("round_", range(4))
def test_a_ticket_confirmed_while_its_transfers_line_is_set_aside_ends_one_or_the_other(
    customer, bank, clerk, checker, settings, round_
):
    """The ticket path checked for a line set aside without waiting for the clerk setting it aside: both could
    go through, the customer credited and the payer refunded. Both take the transfer's lock now."""
    settings.STATEMENT_AUTO_CREDIT = False
    settings.TICKET_SECOND_APPROVAL_ABOVE = {"USD": 5000}
    data = camt053([Entry("60.00", "FT-RACE-9", payer="Someone Else")])
    import_statement(receiving_account_id=bank.pk, data=data, name="s.xml", actor=clerk)
    line = StatementLine.objects.get()
    ticket = make_ticket(customer, bank, bank_reference="MY NOTE", amount=Money("60.00", "USD"))

    credit, aside = race(
        [
            lambda: confirm_and_credit(
                ticket_id=ticket.pk, actor=checker, received=Money("60.00", "USD"), bank_reference="FT RACE 9"
            ),
            lambda: set_aside_line(line_id=line.pk, actor=clerk, reason="returned", note="Sent back"),
        ]
    )

    line.refresh_from_db()
    customer.account.refresh_from_db()
    if line.state == "set_aside":
        assert isinstance(credit, TicketStateError), credit
        assert customer.account.balance == Money("0.00", "USD") and not LedgerEntry.objects.exists()
    else:
        assert credit.credited and isinstance(aside, Conflict), aside
        assert customer.account.balance == Money("60.00", "USD") and LedgerEntry.objects.count() == 1
    assert ledger_mismatches() == []
