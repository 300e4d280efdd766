"""What a statement file says is read as the transfers it lists, never more: a batch entry is its transactions,
a reversal undoes its credit, a payer's own id is not the transfer's identity, and a statement is for the
receiving account it names (found by a review, /tmp/h1/report.md F4, F6–F10)."""

from decimal import Decimal

import pytest
from djmoney.money import Money

from accounts.models import Account, LedgerEntry
from tests.factories import UserFactory
from tests.tickets.statement_files import Entry, Tx, camt053, mt940
from tickets.models import StatementLine
from tickets.references import payment_reference
from tickets.statements.importing import import_statement

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def auto_credit(settings):
    settings.STATEMENT_AUTO_CREDIT = True


def run_import(bank, clerk, data: bytes, name: str = "statement.xml"):
    return import_statement(receiving_account_id=bank.pk, data=data, name=name, actor=clerk)


def balance_of(user) -> Money:
    return Account.objects.get(pk=user.account_id).balance


def usd(amount: str) -> Money:
    return Money(amount, "USD")


@pytest.fixture
def bob(db):
    return UserFactory(first_name="Bob")


@pytest.fixture
def carol(db):
    return UserFactory(first_name="Carol")


def batch(*customers, amounts=("100.00", "100.00", "100.00"), total="300.00", reference="BATCH-1", **kw) -> Entry:
    transactions = tuple(
        Tx(amount, payer=f"Payer {n}", creditor_reference=payment_reference(user.account_id), **kw)
        for n, (user, amount) in enumerate(zip(customers, amounts, strict=True))
    )
    return Entry(total, reference, transactions=transactions)


# F8: a camt.053 entry holding several transactions.


def test_a_batch_entry_is_one_line_per_transaction_each_credited_to_its_customer(customer, bob, carol, bank, clerk):
    result = run_import(bank, clerk, camt053([batch(customer, bob, carol)]))
    assert (result.lines, result.credited) == (3, 3)
    assert [balance_of(user) for user in (customer, bob, carol)] == [usd("100.00")] * 3
    lines = StatementLine.objects.order_by("bank_reference")
    assert [(line.bank_reference, line.amount, line.payer_name) for line in lines] == [
        ("BATCH-1/TX1", Decimal("100.00"), "Payer 0"),
        ("BATCH-1/TX2", Decimal("100.00"), "Payer 1"),
        ("BATCH-1/TX3", Decimal("100.00"), "Payer 2"),
    ]


def test_a_batch_read_again_credits_each_transaction_once(customer, bob, carol, bank, clerk):
    data = camt053([batch(customer, bob, carol)])
    run_import(bank, clerk, data)
    again = run_import(bank, clerk, data)
    assert (again.new_lines, again.credited) == (0, 0)
    assert LedgerEntry.objects.count() == 3


def test_a_batch_transaction_keeps_the_banks_own_reference_for_it(customer, bob, bank, clerk):
    entry = batch(customer, bob, amounts=("120.00", "80.00"), total="200.00")
    entry.transactions = (entry.transactions[0], Tx("80.00", "Bob", entry.transactions[1].creditor_reference, "TX-B"))
    run_import(bank, clerk, camt053([entry]))
    assert set(StatementLine.objects.values_list("bank_reference", "amount")) == {
        ("BATCH-1/TX1", Decimal("120.00")),
        ("TX-B", Decimal("80.00")),
    }
    assert (balance_of(customer), balance_of(bob)) == (usd("120.00"), usd("80.00"))


def test_a_batch_whose_parts_do_not_add_up_is_held_for_finance_whole(customer, bob, carol, bank, clerk):
    entry = batch(customer, bob, carol, amounts=("100.00", "100.00", "50.00"))
    result = run_import(bank, clerk, camt053([entry]))  # the statement itself adds up: the entry is 300.00
    (line,) = StatementLine.objects.all()
    assert (line.amount, line.state, line.account_id) == (Decimal("300.00"), "unmatched", None)
    assert (result.credited, result.unmatched) == (0, 1)
    assert "A batch of 3 transactions" in line.explanation and "split it by hand" in line.explanation
    assert LedgerEntry.objects.count() == 0 and balance_of(customer) == usd("0.00")


def test_a_batch_in_another_currency_than_its_entry_is_held(customer, bob, bank, clerk):
    entry = batch(customer, bob, amounts=("100.00", "100.00"), total="200.00", currency="EUR")
    run_import(bank, clerk, camt053([entry]))
    (line,) = StatementLine.objects.all()
    assert line.state == "unmatched" and "A batch of 2 transactions" in line.explanation
    assert LedgerEntry.objects.count() == 0


# F6: the bank's reversal and rebooking of a credit in one statement.


def rf_entry(user, amount="100.00", reference="FT-STORNO", **kw) -> Entry:
    return Entry(amount, reference, creditor_reference=payment_reference(user.account_id), **kw)


def reversal(amount="-100.00", reference="FT-STORNO", **kw) -> Entry:
    return Entry(amount, reference, remittance="Storno", reversal=True, **kw)


def test_a_credit_reversed_and_booked_again_in_one_statement_is_credited_once(customer, bank, clerk):
    run_import(bank, clerk, camt053([rf_entry(customer), reversal(), rf_entry(customer)]))
    assert balance_of(customer) == usd("100.00") and LedgerEntry.objects.count() == 1
    lines = {line.bank_reference + (" debit" if line.amount < 0 else ""): line for line in StatementLine.objects.all()}
    assert set(lines) == {"FT-STORNO", "FT-STORNO debit", "FT-STORNO#REV"}
    assert lines["FT-STORNO"].state == "credited"
    assert lines["FT-STORNO#REV"].state == "unmatched" and lines["FT-STORNO#REV"].ledger_entry_id is None
    assert "The bank reversed this credit of FT-STORNO" in lines["FT-STORNO#REV"].explanation
    assert "Reverses the credit FT-STORNO" in lines["FT-STORNO debit"].explanation


def test_a_credit_reversed_in_its_statement_is_not_credited(customer, bank, clerk):
    result = run_import(bank, clerk, camt053([rf_entry(customer), reversal()]))
    assert balance_of(customer) == usd("0.00") and LedgerEntry.objects.count() == 0
    assert (result.credited, result.unmatched) == (0, 1)


def test_a_credit_listed_twice_with_no_reversal_between_is_credited_once(customer, bank, clerk):
    run_import(bank, clerk, camt053([rf_entry(customer), rf_entry(customer)]))
    assert balance_of(customer) == usd("100.00")
    second = StatementLine.objects.get(bank_reference="FT-STORNO#2")
    assert second.state == "unmatched" and "Listed again under the bank's reference FT-STORNO" in second.explanation


def test_an_mt940_reversal_of_a_credit_is_a_debit_and_the_rebooking_is_credited_once(customer, bank, clerk):
    """:61: "RC" is a reversal of a credit: money out (the parser's default had read it as money in)."""
    rf = payment_reference(customer.account_id)
    entries = [Entry("100.00", "FT-RC", rf), reversal(reference="FT-RC"), Entry("100.00", "FT-RC", rf)]
    run_import(bank, clerk, mt940(entries), name="storno.sta")
    assert StatementLine.objects.get(amount__lt=0).amount == Decimal("-100.00")
    assert balance_of(customer) == usd("100.00") and LedgerEntry.objects.count() == 1


def test_a_reversal_and_rebooking_after_the_credit_was_imported_credit_once(customer, bank, clerk):
    """The morning's statement lists the credit (credited); the day's full statement lists it, its reversal and
    the credit booked again."""
    run_import(bank, clerk, camt053([rf_entry(customer)], statement_id="S-AM"))
    run_import(bank, clerk, camt053([rf_entry(customer), reversal(), rf_entry(customer)], statement_id="S-DAY"))
    assert balance_of(customer) == usd("100.00") and LedgerEntry.objects.count() == 1


def test_a_rebooking_in_the_next_statement_after_a_reversal_is_credited(customer, bank, clerk):
    """The morning's statement lists the credit and its reversal; the afternoon's, following on, the credit
    booked again: it is the transfer, credited (it had been taken for the reversed one and dropped)."""
    run_import(bank, clerk, camt053([rf_entry(customer), reversal()], statement_id="S-AM"))
    result = run_import(bank, clerk, camt053([rf_entry(customer)], statement_id="S-PM"))
    assert (result.new_lines, result.credited) == (1, 1)
    assert balance_of(customer) == usd("100.00")
