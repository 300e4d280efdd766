"""A transfer is the receiving account it reached, its reference there and what arrived (found by a helper): two
of our banks may give two transfers one reference, and a credit under a reference of another amount is another
transfer. Each customer is credited, once, and a slip in a confirmed amount is never "reconciled" by linking."""

import threading
from decimal import Decimal

import pytest
from django.db import connection
from djmoney.money import Money

from accounts.models import Account, LedgerEntry
from accounts.verification import ledger_mismatches
from tests.factories import UserFactory
from tests.tickets.conftest import chinese_csv_columns, make_ticket
from tests.tickets.statement_files import Entry, camt053, csv_statement
from tickets.models import ReceivingAccount, StatementLine
from tickets.receiving_accounts import add_receiving_account
from tickets.references import payment_reference
from tickets.review import confirm_and_credit
from tickets.statements.crediting import confirm_line
from tickets.statements.importing import import_statement

pytestmark = pytest.mark.django_db
IBAN_A, IBAN_B = "DE89370400440532013000", "GB29NWBK60161331926819"
SHARED = "2026120100001"  # what both banks number their transfer


@pytest.fixture(autouse=True)
def auto_credit(settings):
    settings.STATEMENT_AUTO_CREDIT = True


def second_bank(currency="USD") -> ReceivingAccount:
    return add_receiving_account(
        account=ReceivingAccount(
            bank_name="NatWest", account_name="Billing Center Cloud Ltd", iban=IBAN_B, swift_bic="NWBKGB2L",
            currency=currency, region="UK",
        )
    )  # fmt: skip


def import_camt(receiving, clerk, entries, **options):
    data = camt053(entries, **options).replace(IBAN_A.encode(), receiving.iban.encode())
    return import_statement(receiving_account_id=receiving.pk, data=data, name="statement.xml", actor=clerk)


def balance(user) -> Money:
    return Account.objects.get(pk=user.account_id).balance


@pytest.fixture
def bob(db):
    return UserFactory(first_name="Bob", email="bob@example.com")


@pytest.mark.parametrize("bobs_amount", ["100.00", "250.00"])
def test_one_reference_at_two_of_our_banks_credits_both_customers(customer, bob, bank, clerk, bobs_amount):
    import_camt(bank, clerk, [Entry("100.00", SHARED, creditor_reference=payment_reference(customer.account_id))])
    bank_b = second_bank()
    bobs = Entry(bobs_amount, SHARED, creditor_reference=payment_reference(bob.account_id), payer="Bob Example")
    import_camt(bank_b, clerk, [bobs])
    line = StatementLine.objects.get(receiving_account=bank_b)
    assert (line.state, line.account_id) == ("credited", bob.account_id)
    assert line.ledger_entry.account_id == bob.account_id
    assert balance(customer) == Money("100.00", "USD") and balance(bob) == Money(bobs_amount, "USD")
    assert not Account.objects.get(pk=customer.account_id).needs_review
    assert ledger_mismatches() == []


def test_one_customer_paying_two_of_our_banks_under_one_reference_is_credited_twice(customer, bank, clerk):
    """The second 100.00 had been linked to the first, with no flag: the customer lost it silently."""
    rf = payment_reference(customer.account_id)
    import_camt(bank, clerk, [Entry("100.00", SHARED, creditor_reference=rf)])
    import_camt(second_bank(), clerk, [Entry("100.00", SHARED, creditor_reference=rf)])
    assert balance(customer) == Money("200.00", "USD")
    assert LedgerEntry.objects.filter(kind="bank_transfer").count() == 2


def test_a_reference_in_another_currency_at_another_bank_is_creditable(customer, bank, clerk):
    bob = UserFactory(first_name="Bob", account__balance=Money(0, "EUR"))
    import_camt(bank, clerk, [Entry("100.00", SHARED, creditor_reference=payment_reference(customer.account_id))])
    euro = second_bank(currency="EUR")
    bobs = Entry("100.00", SHARED, creditor_reference=payment_reference(bob.account_id), currency="EUR")
    import_camt(euro, clerk, [bobs], currency="EUR")
    assert balance(bob) == Money("100.00", "EUR")


def test_the_same_transfer_listed_again_by_the_same_bank_is_still_linked_not_credited(customer, bank, clerk):
    rf = payment_reference(customer.account_id)
    import_camt(bank, clerk, [Entry("100.00", SHARED, creditor_reference=rf)], statement_id="S1")
    relisted = Entry("100.00", SHARED.lower(), creditor_reference=rf, booked=Entry.booked.replace(day=2))
    import_camt(bank, clerk, [relisted], statement_id="S2", opening="1100.00")
    assert balance(customer) == Money("100.00", "USD")
    assert set(StatementLine.objects.values_list("state", flat=True)) == {"credited"}


def test_tickets_at_two_banks_may_be_confirmed_with_one_reference(customer, bob, bank, clerk):
    alices = make_ticket(customer, bank, bank_reference=SHARED)
    confirm_and_credit(ticket_id=alices.pk, actor=clerk, received=Money("250.00", "USD"), bank_reference=SHARED)
    bank_b = second_bank()
    bobs = make_ticket(bob, bank_b, bank_reference=SHARED, payer_name="Bob Example", amount=Money("75.00", "USD"))
    confirm_and_credit(ticket_id=bobs.pk, actor=clerk, received=Money("75.00", "USD"), bank_reference=SHARED)
    assert balance(bob) == Money("75.00", "USD")
    # and bank A's line of another amount under that reference neither blocks nor is linked to Bob's ticket
    import_camt(bank_b, clerk, [Entry("75.00", SHARED, creditor_reference=payment_reference(bob.account_id))])
    assert balance(bob) == Money("75.00", "USD")
    assert StatementLine.objects.get().ticket_id == bobs.pk


def test_a_ticket_at_one_bank_is_not_refused_for_a_line_another_bank_credited(customer, bob, bank, clerk):
    import_camt(bank, clerk, [Entry("100.00", SHARED, creditor_reference=payment_reference(customer.account_id))])
    bobs = make_ticket(bob, second_bank(), bank_reference=SHARED, payer_name="Bob", amount=Money("75.00", "USD"))
    confirm_and_credit(ticket_id=bobs.pk, actor=clerk, received=Money("75.00", "USD"), bank_reference=SHARED)
    assert balance(bob) == Money("75.00", "USD")


def test_a_line_at_another_bank_is_not_linked_to_a_ticket_that_quoted_its_reference(customer, bob, bank, clerk):
    ticket = make_ticket(customer, bank, bank_reference="R-77", amount=Money("250.00", "USD"))
    confirm_and_credit(ticket_id=ticket.pk, actor=clerk, received=Money("250.00", "USD"), bank_reference="A-R-77")
    bank_b = second_bank()
    import_camt(bank_b, clerk, [Entry("250.00", "R-77", creditor_reference=payment_reference(bob.account_id))])
    line = StatementLine.objects.get(receiving_account=bank_b)
    assert (line.state, line.ticket_id) == ("credited", None)
    assert balance(bob) == Money("250.00", "USD") and balance(customer) == Money("250.00", "USD")


def test_a_line_of_another_amount_than_its_tickets_credit_is_not_linked_to_it(customer, bank, clerk):
    """The clerk confirmed 250.00 for a ticket of 25.00 before the statement came; its line of 25.00 had been
    marked credited, linked to the 250.00, and the 225.00 that never arrived counted as reconciled."""
    ticket = make_ticket(customer, bank, bank_reference="FT-SLIP", amount=Money("25.00", "USD"))
    confirm_and_credit(ticket_id=ticket.pk, actor=clerk, received=Money("250.00", "USD"), bank_reference="FT-SLIP")
    import_camt(bank, clerk, [Entry("25.00", "FT-SLIP")])
    line = StatementLine.objects.get()
    assert line.state != "credited" and line.ledger_entry_id is None
    assert line in StatementLine.objects.filter(state__in=("matched", "unmatched"))  # on finance's to-do list
    line.ticket = ticket  # a clerk (or a match) naming that ticket is told why it is not linked
    line.account_id = customer.account_id
    line.state = "matched"
    line.save()
    with pytest.raises(Exception, match=r"credited for 250\.00 USD received; this line shows 25\.00 USD"):
        confirm_line(line_id=line.pk, actor=clerk)
    assert balance(customer) == Money("250.00", "USD")


def test_lines_without_a_reference_at_two_banks_are_two_transfers(customer, bank, clerk):
    bank_b = second_bank()
    chinese_csv_columns(bank), chinese_csv_columns(bank_b)
    fee = Entry("30.00", "", remittance=payment_reference(customer.account_id), payer="Alice")
    for receiving, name in ((bank, "a.csv"), (bank_b, "b.csv")):
        import_statement(receiving_account_id=receiving.pk, data=csv_statement([fee]), name=name, actor=clerk)
    assert balance(customer) == Money("60.00", "USD")
    assert ledger_mismatches() == []


def test_no_two_tickets_of_one_bank_share_a_confirmed_reference(customer, bank, clerk, bob):
    first = make_ticket(customer, bank, bank_reference=SHARED)
    confirm_and_credit(ticket_id=first.pk, actor=clerk, received=Money("100.00", "USD"), bank_reference=SHARED)
    second = make_ticket(bob, bank, bank_reference=SHARED, payer_name="Bob", amount=Money("100.00", "USD"))
    with pytest.raises(Exception, match="already used for"):
        confirm_and_credit(ticket_id=second.pk, actor=clerk, received=Money("100.00", "USD"), bank_reference=SHARED)
    assert balance(bob) == Money("0.00", "USD") and Decimal(balance(customer).amount) == Decimal("100.00")


def test_a_credit_under_a_source_written_before_sources_named_the_bank_still_counts_for_its_own_bank_only(
    customer, bob, bank, clerk, settings
):
    """Entries written as "bank:BK1005" (before the receiving account was part of the source) cannot be rewritten
    (the ledger is append-only): a relisting at the bank whose line carries one is linked to it; another bank's
    transfer under that reference is credited."""
    from accounts.ledger import credit_deposit

    settings.STATEMENT_AUTO_CREDIT = False
    import_camt(bank, clerk, [Entry("100.00", "BK-1005")], statement_id="S1")
    old = credit_deposit(
        account_id=customer.account_id, amount=Money("100.00", "USD"), kind="bank_transfer", source_ref="bank:BK1005"
    ).entry
    StatementLine.objects.update(state="credited", account_id=customer.account_id, ledger_entry=old)
    settings.STATEMENT_AUTO_CREDIT = True

    relisted = Entry("100.00", "BK1005", booked=Entry.booked.replace(day=3))
    import_camt(bank, clerk, [relisted], statement_id="S2", opening="1100.00")
    assert balance(customer) == Money("100.00", "USD")
    assert set(StatementLine.objects.values_list("ledger_entry", flat=True)) == {old.pk}

    import_camt(
        second_bank(), clerk, [Entry("100.00", "BK-1005", creditor_reference=payment_reference(bob.account_id))]
    )
    assert balance(bob) == Money("100.00", "USD")


def test_a_ticket_for_one_bank_is_not_linked_to_the_customers_other_transfer_at_another(customer, bank, clerk):
    """Bank B listed one of the customer's two transfers first; the ticket for the one to bank A had been linked to
    it, and bank A's line after it: one of the two 100.00 was never credited (found by a helper)."""
    rf = payment_reference(customer.account_id)
    import_camt(second_bank(), clerk, [Entry("100.00", SHARED, creditor_reference=rf)])
    ticket = make_ticket(customer, bank, bank_reference=SHARED, amount=Money("100.00", "USD"))
    confirm_and_credit(ticket_id=ticket.pk, actor=clerk, received=Money("100.00", "USD"), bank_reference=SHARED)
    import_camt(bank, clerk, [Entry("100.00", SHARED, creditor_reference=rf)])
    assert balance(customer) == Money("200.00", "USD")
    ticket.refresh_from_db()
    assert StatementLine.objects.get(receiving_account=bank).ledger_entry_id == ticket.ledger_entry_id


def test_a_ticket_is_not_refused_for_another_customers_transfer_at_another_bank(customer, bob, bank, clerk):
    import_camt(second_bank(), clerk, [Entry("100.00", SHARED, creditor_reference=payment_reference(bob.account_id))])
    ticket = make_ticket(customer, bank, bank_reference=SHARED, amount=Money("100.00", "USD"))
    confirm_and_credit(ticket_id=ticket.pk, actor=clerk, received=Money("100.00", "USD"), bank_reference=SHARED)
    assert balance(customer) == Money("100.00", "USD") and balance(bob) == Money("100.00", "USD")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("round_", range(4))
def test_a_ticket_naming_a_retired_account_raced_with_the_current_accounts_statement_credits_once(
    customer, clerk, round_
):
    """The money reached the current account; the ticket names the retired one. Its confirmation and the current
    account's import, raced, had each credited it under its own account's source (found by a helper)."""
    from tests.tickets.conftest import usd_receiving_account

    retired = usd_receiving_account()
    ticket = make_ticket(customer, retired, bank_reference=SHARED, amount=Money("100.00", "USD"))
    current = usd_receiving_account()  # retires the first
    start, errors = threading.Barrier(2), []

    def run(work):
        try:
            start.wait()
            work()
        except Exception as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)
        finally:
            connection.close()

    rf = payment_reference(customer.account_id)
    confirm = lambda: confirm_and_credit(  # noqa: E731
        ticket_id=ticket.pk, actor=clerk, received=Money("100.00", "USD"), bank_reference=SHARED
    )
    statement = lambda: import_camt(current, clerk, [Entry("100.00", SHARED, creditor_reference=rf)])  # noqa: E731
    threads = [threading.Thread(target=run, args=(work,)) for work in (confirm, statement)]
    [thread.start() for thread in threads]
    [thread.join() for thread in threads]
    assert errors == [] and balance(customer) == Money("100.00", "USD")
    assert LedgerEntry.objects.filter(kind="bank_transfer").count() == 1 and ledger_mismatches() == []
