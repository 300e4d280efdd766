"""What a statement file says is read as the transfers it lists, never more: a batch entry is its transactions,
a reversal undoes its credit, a payer's own id is not the transfer's identity, and a statement is for the
receiving account it names (found by a review, /tmp/h1/report.md F4, F6–F10)."""

from datetime import date
from decimal import Decimal

import pytest
from djmoney.money import Money

from accounts.models import Account, LedgerEntry
from money.errors import Invalid
from tests.factories import UserFactory
from tests.tickets.conftest import make_ticket
from tests.tickets.statement_files import Entry, Tx, camt053, mt940
from tickets.admin.statement_words import import_outcomes
from tickets.models import StatementLine
from tickets.references import payment_reference
from tickets.statements.crediting import assign_line, confirm_line
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


@pytest.mark.parametrize("reference", ["BATCH-1", ""])
def test_a_batch_stored_whole_before_is_that_line_when_a_statement_lists_it_split(
    customer, bob, carol, bank, clerk, reference
):
    """An entry stored as one line (held whole as here, or credited whole by imports before batches were split)
    and listed again split had credited each part a second time (left alone in the closing note of
    2026-12-05): it is the line stored before, for finance to split by hand."""
    run_import(
        bank, clerk, camt053([batch(customer, bob, carol, amounts=("100.00", "100.00", "50.00"), reference=reference)])
    )
    (whole,) = StatementLine.objects.all()
    assign_line(line_id=whole.pk, account_id=customer.account_id, actor=clerk)
    assert confirm_line(line_id=whole.pk, actor=clerk).credited  # the clerk's call: all of it is the customer's
    again = run_import(bank, clerk, camt053([batch(customer, bob, carol, reference=reference)], statement_id="S-2"))
    assert (again.lines, again.new_lines, again.credited) == (1, 0, 0)
    assert [balance_of(user) for user in (customer, bob, carol)] == [usd("300.00"), usd("0.00"), usd("0.00")]
    assert StatementLine.objects.count() == 1 and LedgerEntry.objects.count() == 1


def test_another_batch_without_a_reference_of_that_day_and_total_is_not_taken_for_one_held_whole(
    customer, bob, carol, bank, clerk
):
    """Held whole, a batch without the bank's reference is stored under a fallback that names only its day and
    total: a second batch of that day and total had been taken for it, and never stored (found by a helper)."""
    dave = UserFactory(first_name="Dave")
    held = batch(customer, bob, carol, amounts=("100.00", "100.00", "50.00"), reference="")
    run_import(bank, clerk, camt053([held], statement_id="S-a"))
    other = batch(dave, bob, carol, reference="")  # adds up: its parts are credited
    result = run_import(bank, clerk, camt053([held, other], statement_id="S-b", opening="1000.00", closing="1600.00"))
    assert result.new_lines == 3 and balance_of(dave) == usd("100.00")


def test_a_batch_stored_split_is_not_taken_for_an_entry_of_that_amount_stored_whole(customer, bob, carol, bank, clerk):
    """Only the entry itself counts as stored whole: another transfer of the batch's total on another day does not."""
    run_import(bank, clerk, camt053([Entry("300.00", "BATCH-1", booked=date(2026, 11, 30))], statement_id="S-0"))
    result = run_import(bank, clerk, camt053([batch(customer, bob, carol)]))
    assert (result.new_lines, result.credited) == (3, 3)
    assert [balance_of(user) for user in (customer, bob, carol)] == [usd("100.00")] * 3


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


# F4: the payer's own id for a transfer is not the transfer's identity.


def test_a_payers_end_to_end_id_reused_next_month_is_a_new_transfer(customer, bank, clerk):
    """No AcctSvcrRef; the payer's bank reuses its EndToEndId (the customer number) every month."""
    rf = payment_reference(customer.account_id)
    november = Entry("40.00", creditor_reference=rf, end_to_end="CUST-0042", booked=date(2026, 11, 1))
    december = Entry("40.00", creditor_reference=rf, end_to_end="CUST-0042", booked=date(2026, 12, 1))
    run_import(bank, clerk, camt053([november], statement_id="S-NOV"))
    result = run_import(bank, clerk, camt053([december], opening="1040.00", statement_id="S-DEC"))
    assert (result.credited, result.linked) == (1, 0)
    assert balance_of(customer) == usd("80.00")
    line = StatementLine.objects.get(booking_date=date(2026, 12, 1))
    assert line.bank_reference.startswith("NOREF-") and line.payer_reference == "CUST-0042"


def test_two_payers_with_one_end_to_end_id_are_two_transfers(customer, bob, bank, clerk):
    alice_pays = Entry("40.00", creditor_reference=payment_reference(customer.account_id), end_to_end="INV1")
    bob_pays = Entry(
        "40.00", creditor_reference=payment_reference(bob.account_id), payer="Bob", end_to_end="INV1",
        booked=date(2026, 12, 2),
    )  # fmt: skip
    run_import(bank, clerk, camt053([alice_pays], statement_id="S1"))
    run_import(bank, clerk, camt053([bob_pays], opening="1040.00", statement_id="S2"))
    assert (balance_of(customer), balance_of(bob)) == (usd("40.00"), usd("40.00"))
    assert not Account.objects.get(pk=bob.account_id).needs_review


def test_an_mt940_customer_reference_reused_monthly_is_a_new_transfer(customer, bank, clerk):
    """:61: with the payer's fixed reference and no //bank reference."""
    rf = payment_reference(customer.account_id)

    def statement(day: str, opening: int) -> bytes:
        return (
            f":20:STMT-{day}\r\n:25:DE89370400440532013000\r\n:28C:1/1\r\n:60F:C{day}USD{opening},00\r\n"
            f":61:{day}{day[2:]}C40,00NTRFMONTHLYFEE\r\n:86:{rf}\r\n:62F:C{day}USD{opening + 40},00\r\n"
        ).encode()

    run_import(bank, clerk, statement("261101", 1000), name="nov.sta")
    run_import(bank, clerk, statement("261201", 1040), name="dec.sta")
    assert balance_of(customer) == usd("80.00")
    assert set(StatementLine.objects.values_list("payer_reference", flat=True)) == {"MONTHLYFEE"}


def test_a_ticket_quoting_the_payers_end_to_end_id_finds_its_line(customer, bank, clerk):
    ticket = make_ticket(customer, bank, amount=usd("40.00"), bank_reference="E2E-77", payer_name="Someone Else")
    run_import(bank, clerk, camt053([Entry("40.00", payer="Alice Example", end_to_end="E2E-77")]))
    line = StatementLine.objects.get()
    assert (line.state, line.ticket_id, line.account_id) == ("matched", ticket.pk, customer.account_id)


def test_two_payments_of_one_payer_for_two_rf_references_on_one_day_are_two_transfers(customer, bob, bank, clerk):
    """A parent company pays for two accounts: same name, amount and day, no text, no reference of the bank's;
    listed in two statements (F10c)."""
    for n, user in enumerate((customer, bob)):
        entry = Entry("30.00", payer="Parent Co", creditor_reference=payment_reference(user.account_id))
        run_import(bank, clerk, camt053([entry], opening=str(1000 + 30 * n), statement_id=f"S{n}"))
    assert (balance_of(customer), balance_of(bob)) == (usd("30.00"), usd("30.00"))


def test_a_line_stored_under_the_payers_id_before_is_not_stored_again(customer, bank, clerk):
    """A line imported before the payer's id stopped being a reference keeps the one it was stored under: an
    overlapping statement listing it again adds nothing and credits nothing."""
    rf = payment_reference(customer.account_id)
    data = camt053([Entry("40.00", creditor_reference=rf, end_to_end="CUST-0042")])
    run_import(bank, clerk, data)
    StatementLine.objects.update(bank_reference="CUST-0042")  # as the line had been stored
    again = run_import(bank, clerk, data)
    assert (again.new_lines, again.credited) == (0, 0)
    assert balance_of(customer) == usd("40.00") and StatementLine.objects.count() == 1


# F9: an MT940 statement is for the account its :25: names.


def mt940_for(account: str, customer) -> bytes:
    data = mt940([Entry("10.00", "FT-9", payment_reference(customer.account_id))])
    return data.replace(b":25:DE89370400440532013000", f":25:{account}".encode())


def test_an_mt940_for_another_account_is_refused(customer, bank, clerk):
    with pytest.raises(Invalid) as refused:
        run_import(bank, clerk, mt940_for("GB29NWBK60161331926819", customer), name="b.sta")
    assert refused.value.code == "statement_account" and StatementLine.objects.count() == 0
    assert balance_of(customer) == usd("0.00")


@pytest.mark.parametrize(
    "account",
    ["DE89370400440532013000", "COBADEFFXXX/DE89370400440532013000", "37040044/0532013000", "37040044/532013000",
     "DE89370400440532013000USD"],
)  # fmt: skip
def test_an_mt940_names_its_account_as_banks_write_it(customer, bank, clerk, account):
    run_import(bank, clerk, mt940_for(account, customer), name="a.sta")
    assert balance_of(customer) == usd("10.00")


def test_an_mt940_naming_another_german_account_by_bank_code_is_refused(customer, bank, clerk):
    with pytest.raises(Invalid):
        run_import(bank, clerk, mt940_for("37040044/0532013001", customer), name="b.sta")


# F10a: a line without a reference identical to one imported before.


def fee(customer) -> Entry:
    return Entry("30.00", remittance=f"monthly fee {payment_reference(customer.account_id)}")


def test_an_identical_line_in_the_statement_that_follows_on_is_kept_for_finance(customer, bank, clerk):
    """Two statements of one day, the second opening at the first's closing balance, each with one identical
    30.00 payment without a reference: a second payment, kept, and held for finance (never credited on a guess)."""
    run_import(bank, clerk, camt053([fee(customer)], statement_id="S-AM"))
    result = run_import(bank, clerk, camt053([fee(customer)], opening="1030.00", statement_id="S-PM"))
    assert (result.new_lines, result.unmatched, result.identical_before) == (1, 1, 0)
    second = StatementLine.objects.get(bank_reference__endswith="#2")
    assert second.state == "unmatched" and "this statement follows on from that one" in second.explanation
    assert balance_of(customer) == usd("30.00")
    again = run_import(bank, clerk, camt053([fee(customer)], opening="1030.00", statement_id="S-PM"))
    assert (again.new_lines, again.identical_before) == (0, 1) and StatementLine.objects.count() == 2


def test_an_identical_line_of_an_overlapping_statement_is_counted_not_added(customer, bank, clerk):
    run_import(bank, clerk, camt053([fee(customer)], statement_id="S-AM"))
    result = run_import(bank, clerk, camt053([fee(customer)], statement_id="S-DAY"))  # opens where S-AM opened
    assert (result.new_lines, result.identical_before) == (0, 1)
    assert "1 without a bank reference identical to lines imported before" in import_outcomes(result)
    assert StatementLine.objects.count() == 1 and balance_of(customer) == usd("30.00")


# F7: a debit that takes back a credited transfer.


def needs_review(user) -> bool:
    return Account.objects.get(pk=user.account_id).needs_review


def test_a_return_of_a_credited_transfer_flags_the_account_and_says_so(customer, bank, clerk):
    run_import(bank, clerk, camt053([rf_entry(customer, reference="FT-RET")], statement_id="S1"))
    returned = Entry("-100.00", "FT-RET", remittance="RETURN AC04 account closed", booked=date(2026, 12, 2))
    run_import(bank, clerk, camt053([returned], opening="1100.00", statement_id="S2"))
    debit = StatementLine.objects.get(amount__lt=0)
    assert debit.state == "debit" and "Takes back the transfer FT-RET credited to" in debit.explanation
    account = Account.objects.get(pk=customer.account_id)
    assert account.needs_review and "takes back the transfer FT-RET" in account.review_note
    assert account.balance == usd("100.00")  # finance reverses the credit, nothing is debited on a guess
    run_import(bank, clerk, camt053([returned], opening="1100.00", statement_id="S2-again", closing="1000.00"))
    assert Account.objects.get(pk=customer.account_id).review_note.count("takes back the transfer FT-RET") == 1


def test_a_return_in_the_statement_of_its_credit_flags_the_account(customer, bank, clerk):
    returned = Entry("-100.00", "FT-RET", remittance="RETURN AC04")
    run_import(bank, clerk, camt053([rf_entry(customer, reference="FT-RET"), returned]))
    assert needs_review(customer)


def test_a_return_under_the_payers_reference_flags_the_account(customer, bank, clerk):
    run_import(bank, clerk, camt053([rf_entry(customer, reference="FT-A", end_to_end="E2E-9")], statement_id="S1"))
    recall = Entry("-100.00", "FT-B", remittance="RECALL", end_to_end="E2E-9", booked=date(2026, 12, 3))
    run_import(bank, clerk, camt053([recall], opening="1100.00", statement_id="S2"))
    assert needs_review(customer)


def test_a_debit_of_another_customers_payment_flags_nobody(customer, bank, clerk):
    run_import(bank, clerk, camt053([rf_entry(customer, reference="FT-A")], statement_id="S1"))
    run_import(bank, clerk, camt053([Entry("-100.00", "OUT-7", booked=date(2026, 12, 2))], statement_id="S2"))
    assert not needs_review(customer)


def test_a_reversal_booked_again_takes_nothing_back(customer, bank, clerk):
    """The morning's statement credited the transfer; the afternoon's reverses it and books it again."""
    run_import(bank, clerk, camt053([rf_entry(customer)], statement_id="S-AM"))
    run_import(bank, clerk, camt053([reversal(), rf_entry(customer)], opening="1100.00", statement_id="S-PM"))
    assert balance_of(customer) == usd("100.00") and not needs_review(customer)
    debit = StatementLine.objects.get(amount__lt=0)
    assert "which the bank booked again later in this statement" in debit.explanation


def test_a_reversal_of_a_credited_transfer_not_booked_again_flags_the_account(customer, bank, clerk):
    run_import(bank, clerk, camt053([rf_entry(customer)], statement_id="S-AM"))
    run_import(bank, clerk, camt053([rf_entry(customer), reversal()], statement_id="S-DAY"))
    assert balance_of(customer) == usd("100.00") and needs_review(customer)


def test_a_batch_part_with_a_negative_amount_holds_the_batch_whole(customer, bob, bank, clerk):
    """400.00 and -100.00 had "added up" to the entry's 300.00: the first customer was credited 400.00, of which
    100.00 never arrived (found by a helper). ISO 20022 amounts carry no sign."""
    parts = (Tx("400.00", creditor_reference=payment_reference(customer.account_id)),
             Tx("-100.00", creditor_reference=payment_reference(bob.account_id)))  # fmt: skip
    run_import(bank, clerk, camt053([Entry("300.00", "BATCH-N", transactions=parts)]))
    assert not LedgerEntry.objects.exists() and StatementLine.objects.count() == 1
    assert "split it by hand" in StatementLine.objects.get().explanation


def test_the_same_statement_uploaded_again_adds_no_second_payment(customer, bank, clerk):
    """A day swept to zero opens at its own closing balance: the same file uploaded again had been taken to follow
    on from itself, and its line without a reference came back as a "second payment" (found by a helper)."""
    fee_paid = Entry("30.00", "", remittance=payment_reference(customer.account_id))
    data = camt053([fee_paid, Entry("-30.00", "SWEEP-1")], opening="0.00", statement_id="S-1")
    assert run_import(bank, clerk, data).new_lines == 2
    again = run_import(bank, clerk, data)
    assert again.new_lines == 0 and again.identical_before == 1
    renamed = data.replace(b"<MsgId>MSG-S-1</MsgId>", b"<MsgId>MSG-S-1-again</MsgId>")  # another file, one statement
    assert run_import(bank, clerk, renamed).new_lines == 0 and StatementLine.objects.count() == 2


def test_an_mt940_file_of_several_statements_is_refused_whole(customer, bank, clerk):
    """The parser kept the last statement's account and balances and every statement's lines: another account's
    credit had been checked against ours, and credited (found by a helper)."""
    ours = mt940([Entry("100.00", "D1", remittance=payment_reference(customer.account_id))])
    other = ours.replace(b":25:DE89370400440532013000", b":25:DE02120300000000202051")
    with pytest.raises(Invalid, match="holds 2 statements; upload each on its own"):
        run_import(bank, clerk, other + ours, name="two.sta")
    assert not StatementLine.objects.exists() and balance_of(customer) == usd("0.00")


def test_a_transfer_taken_back_then_booked_again_in_later_statements_tells_finance_the_credit_stands(
    customer, bank, clerk
):
    """The return flagged "reverse the credit"; the bank's rebooking a statement later was only linked to that
    credit: finance, following the flag, would have left the customer with nothing (found by a helper)."""
    run_import(bank, clerk, camt053([rf_entry(customer)], statement_id="S1"))
    run_import(bank, clerk, camt053([reversal(booked=date(2026, 12, 2))], opening="1100.00", statement_id="S2"))
    assert "reverse the credit" in Account.objects.get(pk=customer.account_id).review_note
    run_import(
        bank, clerk, camt053([rf_entry(customer, booked=date(2026, 12, 3))], opening="1000.00", statement_id="S3")
    )
    rebooked = StatementLine.objects.get(booking_date=date(2026, 12, 3))
    assert rebooked.state == "credited" and "the credit stands" in rebooked.explanation
    assert "do not reverse it" in Account.objects.get(pk=customer.account_id).review_note
    assert balance_of(customer) == usd("100.00") and LedgerEntry.objects.count() == 1


def test_a_batch_the_bank_reverses_as_one_entry_credits_none_of_its_parts(customer, bob, carol, bank, clerk):
    """The reversal named the batch's entry, not its parts: every part had been credited, and nobody flagged."""
    references = [payment_reference(user.account_id) for user in (customer, bob, carol)]
    parts = tuple(Tx("100.00", creditor_reference=reference) for reference in references)
    statement = [Entry("300.00", "BATCH-R", transactions=parts), Entry("-300.00", "BATCH-R", reversal=True)]
    run_import(bank, clerk, camt053(statement))
    assert not LedgerEntry.objects.exists()
    assert sorted(StatementLine.objects.filter(amount__gt=0).values_list("bank_reference", flat=True)) == [
        "BATCH-R/TX1#REV", "BATCH-R/TX2#REV", "BATCH-R/TX3#REV",
    ]  # fmt: skip


def test_a_statement_of_more_lines_than_one_file_may_hold_is_refused_whole(customer, bank, clerk, settings):
    settings.STATEMENT_MAX_LINES = 3
    lines = [Entry("1.00", f"L-{n}", remittance=payment_reference(customer.account_id)) for n in range(4)]
    with pytest.raises(Invalid, match="has 4 lines; at most 3 are imported from one file"):
        run_import(bank, clerk, camt053(lines))
    assert not StatementLine.objects.exists() and not LedgerEntry.objects.exists()
