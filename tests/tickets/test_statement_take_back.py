"""Finance takes back the credit of a transfer the bank returned (a debit of our statement that takes it back): the
account is debited what the bank took, once, and a repayment's bills are unpaid again; a transfer the bank books
again keeps its credit, and one taken back before is given back. The return had only flagged the account, "reverse
the credit", with nothing in the product to do it (left alone in the closing note of 2026-12-05)."""

from datetime import date

import pytest
import time_machine
from djmoney.money import Money

from accounts.models import Account, LedgerEntry, OutboundEmail
from accounts.verification import ledger_mismatches
from bills.models import Bill
from bills.settlement import unapplied_credit
from money.errors import Conflict, Invalid, Refused
from tests.bills.conftest import NOVEMBER, at, charge, close
from tests.concurrency.test_races import race
from tests.factories import PostpaidAccountFactory, UserFactory
from tests.helpers import staff_login, through_confirmation
from tests.tickets.conftest import finance_clerk
from tests.tickets.statement_files import Entry, camt053
from tickets.models import StatementLine
from tickets.references import payment_reference
from tickets.statements.importing import import_statement
from tickets.statements.take_back import take_back_return

pytestmark = pytest.mark.django_db
LINES = "/admin/tickets/statementline/"


@pytest.fixture(autouse=True)
def auto_credit(settings):
    settings.STATEMENT_AUTO_CREDIT = True


def run_import(bank, clerk, entries, statement_id, opening="1000.00"):
    data = camt053(entries, opening=opening, statement_id=statement_id)
    return import_statement(receiving_account_id=bank.pk, data=data, name=f"{statement_id}.xml", actor=clerk)


def paid(user, amount="100.00", booked=date(2026, 12, 1)) -> Entry:
    return Entry(amount, "FT-RET", creditor_reference=payment_reference(user.account_id), booked=booked)


def returned(amount="-100.00", booked=date(2026, 12, 2)) -> Entry:
    return Entry(amount, "FT-RET", remittance="RETURN AC04 account closed", booked=booked)


def balance(user) -> Money:
    return Account.objects.get(pk=user.account_id).balance


def the_return() -> StatementLine:
    return StatementLine.objects.get(amount__lt=0)


@pytest.fixture
def credited_then_returned(customer, bank, clerk):
    run_import(bank, clerk, [paid(customer)], "S1")
    run_import(bank, clerk, [returned()], "S2", opening="1100.00")
    assert balance(customer) == Money("100.00", "USD")
    return the_return()


def test_finance_takes_back_a_returned_transfers_credit_once(client, customer, clerk, credited_then_returned):
    debit = credited_then_returned
    first = take_back_return(line_id=debit.pk, actor=clerk)
    again = take_back_return(line_id=debit.pk, actor=clerk)  # a double click
    assert (first.already, again.already) == (False, True) and first.entry == again.entry
    assert balance(customer) == Money("0.00", "USD") and ledger_mismatches() == []
    entry = LedgerEntry.objects.get(kind=LedgerEntry.Kind.BANK_RETURN)
    assert (entry.amount, entry.actor) == (Money("-100.00", "USD"), clerk)
    assert "fiona took 100.00 USD back from" in StatementLine.objects.get(pk=debit.pk).explanation
    client.force_login(customer)
    statement = client.get("/billing/statement/").content.decode()
    assert "Bank transfer FT-RET returned by the bank (debit FT-RET)" in statement
    chinese = client.get("/billing/statement/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "returned by the bank" not in chinese


def test_the_customer_is_told_once_when_a_credit_is_taken_back(customer, clerk, credited_then_returned):
    """They had been told the transfer was credited, then read only a debit on their statement (found by a
    helper)."""
    customer.language = "zh-hans"
    customer.save(update_fields=["language"])
    take_back_return(line_id=credited_then_returned.pk, actor=clerk)
    take_back_return(line_id=credited_then_returned.pk, actor=clerk)  # a double click: told once

    [mail] = OutboundEmail.objects.filter(dedupe_key__contains=":taken-back:")
    assert mail.to == customer.email and "FT-RET" in mail.subject and "US$100.00" in mail.subject
    assert "US$0.00" in mail.body and "taken" not in mail.body  # in the reader's language, the balance after


def test_the_records_say_a_credit_taken_back_was_returned_by_the_bank(client, customer, bank, clerk):
    """As a refunded card payment's record says it was refunded; it had still said "Credited" (found by a helper)."""
    other = Entry("80.00", "FT-PART", creditor_reference=payment_reference(customer.account_id))
    run_import(bank, clerk, [paid(customer), other], "S1")
    part = Entry("-30.00", "FT-PART", remittance="RETURN AC04 account closed", booked=date(2026, 12, 2))
    run_import(bank, clerk, [returned(), part], "S2", opening="1180.00")
    client.force_login(customer)
    assert "Returned by the bank" not in client.get("/billing/topups/").content.decode()
    for debit in StatementLine.objects.filter(amount__lt=0):
        take_back_return(line_id=debit.pk, actor=clerk)

    rows = {row.split("</tr>")[0] for row in client.get("/billing/topups/").content.decode().split("<tr")[1:]}
    assert any("FT-RET" in row and "Returned by the bank" in row for row in rows)
    assert any("FT-PART" in row and "Credited, partly returned by the bank" in row for row in rows)
    csv = b"".join(client.get("/billing/topups/?format=csv").streaming_content).decode()
    assert "Returned by the bank" in csv
    chinese = client.get("/billing/topups/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "returned by the bank" not in chinese.lower()


def test_a_partial_return_takes_back_only_what_the_bank_took(customer, bank, clerk):
    run_import(bank, clerk, [paid(customer)], "S1")
    run_import(bank, clerk, [returned("-40.00")], "S2", opening="1100.00")
    take_back_return(line_id=the_return().pk, actor=clerk)
    assert balance(customer) == Money("60.00", "USD") and ledger_mismatches() == []


@pytest.mark.parametrize("which", ["the credit", "a fee", "a line of nothing we credited"])
def test_a_line_that_returns_no_credit_takes_nothing_back(customer, bank, clerk, which):
    run_import(bank, clerk, [paid(customer), Entry("-5.00", "FEE-1"), Entry("-100.00", "OUT-7")], "S1")
    line = {
        "the credit": StatementLine.objects.get(amount__gt=0),
        "a fee": StatementLine.objects.get(bank_reference="FEE-1"),
        "a line of nothing we credited": StatementLine.objects.get(bank_reference="OUT-7"),
    }[which]
    with pytest.raises(Invalid, match="does not take back a transfer we credited"):
        take_back_return(line_id=line.pk, actor=clerk)
    assert balance(customer) == Money("100.00", "USD") and LedgerEntry.objects.count() == 1


def test_only_finance_who_may_credit_transfers_takes_a_credit_back(customer, credited_then_returned):
    staff = UserFactory(account=None, is_staff=True)
    for actor in (customer, staff):
        with pytest.raises(Refused):
            take_back_return(line_id=credited_then_returned.pk, actor=actor)
    assert balance(customer) == Money("100.00", "USD")


def test_a_transfer_the_bank_booked_again_keeps_its_credit(customer, bank, clerk, credited_then_returned):
    run_import(bank, clerk, [paid(customer, booked=date(2026, 12, 3))], "S3")
    with pytest.raises(Conflict, match="booked the transfer FT-RET again after this debit: its credit stands"):
        take_back_return(line_id=credited_then_returned.pk, actor=clerk)
    assert balance(customer) == Money("100.00", "USD") and LedgerEntry.objects.count() == 1


def test_a_credit_taken_back_is_given_back_once_when_the_bank_books_the_transfer_again(
    customer, bank, clerk, credited_then_returned
):
    take_back_return(line_id=credited_then_returned.pk, actor=clerk)
    for _ in range(2):  # the same statement imported twice
        run_import(bank, clerk, [paid(customer, booked=date(2026, 12, 3))], "S3")
    assert balance(customer) == Money("100.00", "USD") and ledger_mismatches() == []
    given = LedgerEntry.objects.get(source_ref__endswith=":booked-again")
    assert given.amount == Money("100.00", "USD") and given.kind == LedgerEntry.Kind.BANK_TRANSFER
    rebooked = StatementLine.objects.get(booking_date=date(2026, 12, 3))
    assert "was given back: 100.00 USD credited again" in rebooked.explanation
    note = Account.objects.get(pk=customer.account_id).review_note
    assert "the credit was given back; nothing to do" in note and "do not reverse it" not in note


def test_a_returned_repayment_leaves_its_bill_unpaid_and_a_rebooking_settles_it_again(bank, clerk):
    bob = UserFactory(account=PostpaidAccountFactory(name="Bob's Shop"))
    charge(bob.account, "100.00", at(2026, 11, 3), "nov")
    bill = close(bob.account, NOVEMBER)
    paid_bill = Entry("100.00", "FT-RET", remittance=f"payment {bill.number}", booked=date(2026, 12, 1))
    run_import(bank, clerk, [paid_bill], "S1")
    bill.refresh_from_db()
    assert bill.status == Bill.Status.PAID
    run_import(bank, clerk, [returned()], "S2", opening="1100.00")
    take_back_return(line_id=the_return().pk, actor=clerk)
    bill.refresh_from_db()
    assert (bill.status, bill.amount_paid) == (Bill.Status.OPEN, Money("0.00", "USD"))
    assert unapplied_credit(bob.account_id, "USD") == Money("0.00", "USD") and ledger_mismatches() == []
    run_import(bank, clerk, [Entry("100.00", "FT-RET", remittance=bill.number, booked=date(2026, 12, 3))], "S3")
    bill.refresh_from_db()
    assert bill.status == Bill.Status.PAID and unapplied_credit(bob.account_id, "USD") == Money("0.00", "USD")
    assert Account.objects.get(pk=bob.account_id).balance == Money("0.00", "USD") and ledger_mismatches() == []


def test_finance_takes_a_credit_back_from_the_statement_lines_list(client, customer, clerk, credited_then_returned):
    staff_login(client, clerk)
    selection = {"action": "take_back", "_selected_action": [str(credited_then_returned.pk)]}
    confirmation = client.post(LINES, selection).content.decode()
    assert "Takes back the transfer FT-RET credited to" in confirmation  # what the clerk is about to reverse
    account = f"{customer.account.name} (#{customer.account_id})"
    assert f"Takes <strong>100.00 USD</strong> from the balance of {account}, which was credited 100.00 USD" in (
        confirmation
    )  # and how much (found by a helper)
    page = through_confirmation(client, LINES, selection, follow=True).content.decode()
    assert "FT-RET: took 100.00 USD back from" in page
    assert balance(customer) == Money("0.00", "USD")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_clerks_taking_one_credit_back_at_once_take_it_once(customer, bank, clerk, finance_group, settings):
    settings.STATEMENT_AUTO_CREDIT = True
    run_import(bank, clerk, [paid(customer)], "S1")
    run_import(bank, clerk, [returned()], "S2", opening="1100.00")
    other = finance_clerk(finance_group, "gina")
    results = race(
        [lambda actor=actor: take_back_return(line_id=the_return().pk, actor=actor) for actor in (clerk, other)]
    )
    assert sorted(result.already for result in results) == [False, True], results
    assert balance(customer) == Money("0.00", "USD") and ledger_mismatches() == []


def test_a_lines_page_offers_what_may_be_done_to_it(client, customer, clerk, credited_then_returned):
    """The page had only listed the line's fields; every action was in the list's menu (found by a helper)."""
    staff_login(client, clerk)
    page = client.get(f"{LINES}{credited_then_returned.pk}/change/").content.decode()
    assert 'data-testid="action-take_back"' in page and 'data-testid="action-confirm_lines"' not in page
    selection = {"action": "take_back", "_selected_action": [str(credited_then_returned.pk)]}
    assert "Takes back the transfer FT-RET" in client.post(LINES, selection).content.decode()  # its "are you sure?"
    credit = StatementLine.objects.get(amount__gt=0)
    assert "line-actions" not in client.get(f"{LINES}{credit.pk}/change/").content.decode()  # credited: nothing
    take_back_return(line_id=credited_then_returned.pk, actor=clerk)
    page = client.get(f"{LINES}{credited_then_returned.pk}/change/").content.decode()
    assert "line-actions" not in page  # taken back already: no button that only says so


def test_two_returns_of_one_credit_take_back_no_more_than_it(customer, bank, clerk):
    """A 100.00 credit, two debits of 60.00 that each name it: the second takes back only the 40.00 left."""
    run_import(bank, clerk, [paid(customer)], "S1")
    first, second = returned("-60.00"), Entry("-60.00", "FT-RET", remittance="RETURN again", booked=date(2026, 12, 3))
    run_import(bank, clerk, [first, second], "S2", opening="1100.00")
    debits = list(StatementLine.objects.filter(amount__lt=0).order_by("pk"))
    assert [take_back_return(line_id=d.pk, actor=clerk).entry.amount for d in debits] == [
        Money("-60.00", "USD"),
        Money("-40.00", "USD"),
    ]
    assert balance(customer) == Money("0.00", "USD") and ledger_mismatches() == []


def test_a_second_return_and_rebooking_is_given_back(customer, bank, clerk):
    """Returned, booked again (the credit stood), returned again (taken back), booked again: the second rebooking had
    been paired with the first return and nothing was given back (found by a helper)."""
    run_import(bank, clerk, [paid(customer)], "S1")
    run_import(bank, clerk, [returned(booked=date(2026, 12, 2))], "S2", opening="1100.00")
    run_import(bank, clerk, [paid(customer, booked=date(2026, 12, 3))], "S3")
    run_import(bank, clerk, [returned(booked=date(2026, 12, 4))], "S4", opening="1100.00")
    take_back_return(line_id=StatementLine.objects.get(booking_date=date(2026, 12, 4)).pk, actor=clerk)
    assert balance(customer) == Money("0.00", "USD")
    run_import(bank, clerk, [paid(customer, booked=date(2026, 12, 5))], "S5")
    assert balance(customer) == Money("100.00", "USD") and ledger_mismatches() == []  # what the bank holds for them


def test_a_part_returned_taken_back_and_booked_again_is_given_back(customer, bank, clerk):
    """40.00 of 100.00 returned and taken back, then booked again: the line could not be credited (its transfer's
    source had 100.00) and nothing gave the 40.00 back (found by a helper)."""
    run_import(bank, clerk, [paid(customer)], "S1")
    run_import(bank, clerk, [returned("-40.00")], "S2", opening="1100.00")
    take_back_return(line_id=the_return().pk, actor=clerk)
    run_import(bank, clerk, [paid(customer, amount="40.00", booked=date(2026, 12, 3))], "S3", opening="1060.00")
    line = StatementLine.objects.get(booking_date=date(2026, 12, 3))
    assert line.state == "credited" and "credited again" in line.explanation
    assert balance(customer) == Money("100.00", "USD") and ledger_mismatches() == []


def test_the_credit_taken_back_is_the_one_the_return_named_on_import(client, bank, clerk):
    """A statement imported late brought another customer's credit under the same payer's id: the confirmation
    named Alice, and the action took Bob's money (found by a helper)."""
    alice, bob = UserFactory(account__name="Alice Co"), UserFactory(account__name="Bob Co")
    to = {user: payment_reference(user.account_id) for user in (alice, bob)}
    first = Entry("100.00", "A-1", creditor_reference=to[alice], end_to_end="PARENT-PAY", booked=date(2026, 12, 1))
    run_import(bank, clerk, [first], "S1")
    run_import(bank, clerk, [Entry("-100.00", "RT-9", end_to_end="PARENT-PAY", booked=date(2026, 12, 5))], "S5")
    late = Entry("100.00", "B-2", creditor_reference=to[bob], end_to_end="PARENT-PAY", booked=date(2026, 12, 3))
    run_import(bank, clerk, [late], "S3")
    staff_login(client, clerk)
    selection = {"action": "take_back", "_selected_action": [str(the_return().pk)]}
    assert "Alice Co" in client.post(LINES, selection).content.decode()
    through_confirmation(client, LINES, selection)
    assert (balance(alice), balance(bob)) == (Money("0.00", "USD"), Money("100.00", "USD"))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("round_", range(3))
def test_two_debits_naming_two_lines_of_one_credit_raced_take_no_more_than_it(
    customer, bank, clerk, finance_group, settings, round_
):
    """One credit listed on two statements (two lines, one ledger entry), each line named by a debit: two clerks at
    once had each read nothing taken and taken 100.00 of a 100.00 credit (found by a helper)."""
    settings.STATEMENT_AUTO_CREDIT = True
    run_import(bank, clerk, [paid(customer)], "S1")
    run_import(bank, clerk, [returned(booked=date(2026, 12, 3))], "S3", opening="1100.00")
    run_import(bank, clerk, [paid(customer, booked=date(2026, 12, 2))], "S2")  # a late statement lists it again
    run_import(bank, clerk, [returned(booked=date(2026, 12, 4))], "S4", opening="1100.00")
    debits = StatementLine.objects.filter(amount__lt=0)
    assert {debit.returned_line_id for debit in debits} == set(
        StatementLine.objects.filter(amount__gt=0).values_list("pk", flat=True)
    )
    other = finance_clerk(finance_group, "gina")
    results = race(
        [
            lambda d=d, a=a: take_back_return(line_id=d.pk, actor=a)
            for d, a in zip(list(debits), (clerk, other), strict=True)
        ]
    )
    assert sum(isinstance(result, Conflict) for result in results) == 1, results
    assert balance(customer) == Money("0.00", "USD") and ledger_mismatches() == []


def test_a_return_under_the_payers_reference_is_given_back_when_the_transfer_is_booked_again(customer, bank, clerk):
    """The return named the payer's id, not the bank's reference: the rebooking never paired with it (found by a
    helper)."""
    payment = Entry("100.00", "A-1", creditor_reference=payment_reference(customer.account_id), end_to_end="PAY-77")
    run_import(bank, clerk, [payment], "S1")
    run_import(bank, clerk, [Entry("-100.00", "RT-9", end_to_end="PAY-77", booked=date(2026, 12, 2))], "S2")
    take_back_return(line_id=the_return().pk, actor=clerk)
    payment.booked = date(2026, 12, 3)
    run_import(bank, clerk, [payment], "S3")
    assert balance(customer) == Money("100.00", "USD") and ledger_mismatches() == []


def test_what_was_given_back_can_be_taken_back_again(customer, bank, clerk):
    """40.00 returned, taken back, booked again and given back; then the whole 100.00 returned: the take-back had
    counted the 40.00 as still taken and left 40.00 the bank no longer held (found by a helper)."""
    run_import(bank, clerk, [paid(customer)], "S1")
    run_import(bank, clerk, [returned("-40.00")], "S2", opening="1100.00")
    take_back_return(line_id=the_return().pk, actor=clerk)
    run_import(bank, clerk, [paid(customer, amount="40.00", booked=date(2026, 12, 3))], "S3", opening="1060.00")
    run_import(bank, clerk, [returned(booked=date(2026, 12, 4))], "S4", opening="1100.00")
    take_back_return(line_id=StatementLine.objects.get(booking_date=date(2026, 12, 4)).pk, actor=clerk)
    assert balance(customer) == Money("0.00", "USD") and ledger_mismatches() == []


def test_a_return_and_its_rebooking_in_one_statement_tell_finance_the_credit_stands(customer, bank, clerk):
    run_import(bank, clerk, [paid(customer)], "S1")
    run_import(bank, clerk, [returned(), paid(customer, booked=date(2026, 12, 3))], "S2", opening="1100.00")
    with pytest.raises(Conflict, match="its credit stands"):
        take_back_return(line_id=the_return().pk, actor=clerk)
    assert "do not reverse it" in Account.objects.get(pk=customer.account_id).review_note


def test_a_repayment_returned_after_the_account_left_postpaid_reopens_no_bill(bank, clerk):
    """A bill reopened on a prepaid account is one nothing settles again: its balance says what it owes (found by a
    helper)."""
    from accounts.lifecycle import change_account_type

    bob = UserFactory(account=PostpaidAccountFactory(name="Bob's Shop"))
    charge(bob.account, "100.00", at(2026, 11, 3), "nov")
    bill = close(bob.account, NOVEMBER)
    run_import(bank, clerk, [Entry("100.00", "FT-RET", remittance=f"payment {bill.number}")], "S1")
    change_account_type(account_id=bob.account_id, kind=Account.Type.PREPAID)
    run_import(bank, clerk, [returned()], "S2", opening="1100.00")
    take_back_return(line_id=the_return().pk, actor=clerk)
    bill.refresh_from_db()
    assert bill.status == Bill.Status.PAID and Account.objects.get(pk=bob.account_id).balance == Money("-100.00", "USD")
    assert ledger_mismatches() == []


def test_a_new_payment_under_the_payers_reused_id_is_not_taken_for_a_rebooking(customer, bank, clerk):
    """A payer may use one end-to-end id for every payment: next month's 100.00 is credited as itself, never also
    given back as the returned transfer booked again."""
    first = Entry("100.00", "A-1", creditor_reference=payment_reference(customer.account_id), end_to_end="MONTHLY")
    run_import(bank, clerk, [first], "S1")
    run_import(bank, clerk, [Entry("-100.00", "RT-9", end_to_end="MONTHLY", booked=date(2026, 12, 2))], "S2")
    take_back_return(line_id=the_return().pk, actor=clerk)
    again = Entry("100.00", "A-2", creditor_reference=payment_reference(customer.account_id), end_to_end="MONTHLY")
    again.booked = date(2026, 12, 20)
    run_import(bank, clerk, [again], "S3")
    assert balance(customer) == Money("100.00", "USD") and ledger_mismatches() == []  # 100 - 100 + 100


@pytest.mark.parametrize("order", ["return first", "confirmed after the return"])
def test_a_return_stored_before_its_credit_is_credited_is_noted_then(customer, bank, clerk, settings, order):
    """A return imported before its credit's statement, or while the credit waited for a clerk (auto-credit off, the
    default): nothing said the credit had gone back, and the clerk confirmed it (found by a helper)."""
    from tickets.statements.crediting import confirm_line

    if order == "return first":
        run_import(bank, clerk, [returned()], "S2", opening="1100.00")
        run_import(bank, clerk, [paid(customer)], "S1")
    else:
        settings.STATEMENT_AUTO_CREDIT = False
        run_import(bank, clerk, [paid(customer)], "S1")
        run_import(bank, clerk, [returned()], "S2", opening="1100.00")
        confirm_line(line_id=StatementLine.objects.get(amount__gt=0).pk, actor=clerk)
    credit = StatementLine.objects.get(amount__gt=0)
    assert credit.state == "credited" and the_return().returned_line_id == credit.pk
    assert "takes back the transfer FT-RET" in Account.objects.get(pk=customer.account_id).review_note
    take_back_return(line_id=the_return().pk, actor=clerk)
    assert balance(customer) == Money("0.00", "USD") and ledger_mismatches() == []


def test_a_rebooked_part_set_aside_then_put_back_after_the_take_back_is_given_back(customer, bank, clerk):
    """Set aside, the credit could be taken back; put back, the line could never be credited (its transfer's source
    holds the first credit) and nothing gave the part back (found by a helper)."""
    from tickets.statements.setting_aside import put_back_line, set_aside_line

    run_import(bank, clerk, [paid(customer)], "S1")
    run_import(bank, clerk, [returned("-40.00")], "S2", opening="1100.00")
    run_import(bank, clerk, [paid(customer, amount="40.00", booked=date(2026, 12, 3))], "S3", opening="1060.00")
    rebooked = StatementLine.objects.get(booking_date=date(2026, 12, 3))
    set_aside_line(line_id=rebooked.pk, actor=clerk, reason="not_a_payment", note="checking")
    take_back_return(line_id=the_return().pk, actor=clerk)
    assert balance(customer) == Money("60.00", "USD")
    put_back_line(line_id=rebooked.pk, actor=clerk)
    assert StatementLine.objects.get(pk=rebooked.pk).state == "credited"
    assert balance(customer) == Money("100.00", "USD") and ledger_mismatches() == []


def test_a_debit_taken_back_while_postpaid_is_not_taken_again_after_the_account_turned_prepaid(bank, clerk):
    from accounts.lifecycle import change_account_type
    from bills.settlement import repay

    bob = UserFactory(account=PostpaidAccountFactory(name="Bob's Shop"))
    charge(bob.account, "100.00", at(2026, 11, 3), "nov")
    bill = close(bob.account, NOVEMBER)
    run_import(bank, clerk, [Entry("100.00", "FT-RET", remittance=f"payment {bill.number}")], "S1")
    run_import(bank, clerk, [returned("-40.00")], "S2", opening="1100.00")
    take_back_return(line_id=the_return().pk, actor=clerk)
    repay(account_id=bob.account_id, amount=Money("40.00", "USD"), source_ref="ticket:again", description="Again")
    change_account_type(account_id=bob.account_id, kind=Account.Type.PREPAID)
    assert take_back_return(line_id=the_return().pk, actor=clerk).already  # not a second 40.00 under another source
    assert Account.objects.get(pk=bob.account_id).balance == Money("0.00", "USD") and ledger_mismatches() == []


def test_a_credit_given_back_mirrors_its_take_back_and_answers_again_when_listed_again(bank, clerk):
    """Credited while prepaid, taken back and given back after the account turned postpaid: not the bills' (it had
    paid a bill the balance still owed); listed once more, the credit given back answers, not a Conflict that stopped
    the import half-way (both found by a helper)."""
    from accounts.lifecycle import change_account_type
    from tests.factories import PrepaidAccountFactory

    account = PrepaidAccountFactory(name="Ann")
    UserFactory(username="ann", account=account, email="ann@example.com")
    reference = payment_reference(account.pk)
    run_import(bank, clerk, [Entry("100.00", "FT-RET", creditor_reference=reference, booked=date(2026, 10, 20))], "S1")
    charge(account, "100.00", at(2026, 10, 21), "spent-prepaid")
    with time_machine.travel(at(2026, 11, 1, 9), tick=False):
        change_account_type(account_id=account.pk, kind=Account.Type.POSTPAID)
    charge(account, "40.00", at(2026, 11, 3), "nov")
    november = close(account, NOVEMBER)
    run_import(bank, clerk, [returned(booked=date(2026, 12, 2))], "S2", opening="1100.00")
    take_back_return(line_id=the_return().pk, actor=clerk)
    again = Entry("100.00", "FT-RET", creditor_reference=reference, booked=date(2026, 12, 3))
    run_import(bank, clerk, [again], "S3", opening="1000.00")
    once_more = Entry("100.00", "FT-RET", creditor_reference=reference, booked=date(2026, 12, 10))
    run_import(bank, clerk, [once_more], "S4", opening="1100.00")

    assert Account.objects.get(pk=account.pk).balance == Money("-40.00", "USD")
    november.refresh_from_db()
    assert (november.status, november.amount_paid) != (Bill.Status.PAID, november.amount_due)  # 40.00 still owed
    assert unapplied_credit(account.pk, "USD") == Money("0.00", "USD")
    assert LedgerEntry.objects.filter(source_ref__endswith=":booked-again").count() == 1
    assert ledger_mismatches() == []


def test_a_taken_back_credit_is_given_back_only_on_the_word_of_one_who_may_credit_it(
    customer, bank, clerk, checker, finance_group, credited_then_returned
):
    """The bank books again a transfer whose credit finance took back: given back on import or when a line is put
    back, whoever did it. An importer who may not credit had had the money credited, and a clerk of the account had
    given it back to themselves (found by a helper). It waits, saying why, for another finance user to put it back."""
    from django.contrib.auth.models import Permission

    from accounts.models import User
    from tickets.statements.crediting import confirm_line

    take_back_return(line_id=credited_then_returned.pk, actor=clerk)
    assert balance(customer) == Money("0.00", "USD")
    importer = UserFactory(username="ivan", account=None, is_staff=True)
    importer.user_permissions.add(Permission.objects.get(codename="import_statementfile"))
    importer = User.objects.get(pk=importer.pk)
    run_import(bank, importer, [paid(customer, booked=date(2026, 12, 3))], "S3", opening="1000.00")
    rebooked = StatementLine.objects.get(booking_date=date(2026, 12, 3))
    assert balance(customer) == Money("0.00", "USD")
    assert "not given back by itself (Not credited by itself: ivan, who imported" in rebooked.explanation

    insider = finance_clerk(finance_group, "mallory")
    insider.account = customer.account
    insider.save()
    assert rebooked.state == "matched" and rebooked.account_id == customer.account_id
    with pytest.raises(Refused, match="your own account"):
        confirm_line(line_id=rebooked.pk, actor=insider)  # the customer's own clerk
    assert confirm_line(line_id=rebooked.pk, actor=checker).credited  # anyone else gives it back, once
    assert confirm_line(line_id=rebooked.pk, actor=checker).already
    assert balance(customer) == Money("100.00", "USD") and ledger_mismatches() == []
    assert StatementLine.objects.get(pk=rebooked.pk).state == "credited"


def test_a_clerk_putting_back_a_rebooked_line_of_their_own_account_gives_nothing_back(
    customer, bank, clerk, checker, finance_group
):
    from tickets.statements.crediting import confirm_line
    from tickets.statements.setting_aside import put_back_line, set_aside_line

    run_import(bank, clerk, [paid(customer)], "S1")
    run_import(bank, clerk, [returned("-40.00")], "S2", opening="1100.00")
    run_import(bank, clerk, [paid(customer, "40.00", booked=date(2026, 12, 3))], "S3", opening="1060.00")
    rebooked = StatementLine.objects.get(booking_date=date(2026, 12, 3))
    set_aside_line(line_id=rebooked.pk, actor=clerk, reason="not_a_payment", note="checking")
    take_back_return(line_id=the_return().pk, actor=clerk)
    assert balance(customer) == Money("60.00", "USD")
    insider = finance_clerk(finance_group, "mallory")
    insider.account = customer.account
    insider.save()
    put_back_line(line_id=rebooked.pk, actor=insider)
    assert balance(customer) == Money("60.00", "USD")
    assert "not given back by itself (Not credited by itself: it names the account of mallory" in (
        StatementLine.objects.get(pk=rebooked.pk).explanation
    )
    confirm_line(line_id=rebooked.pk, actor=checker)
    assert balance(customer) == Money("100.00", "USD") and ledger_mismatches() == []


def waiting_rebooking(customer, bank, clerk) -> StatementLine:
    """Credited 100.00, returned, taken back; the bank books it again, imported by one who may not credit it: the
    line waits for a finance user to give it back."""
    from django.contrib.auth.models import Permission

    from accounts.models import User

    run_import(bank, clerk, [paid(customer)], "S1")
    run_import(bank, clerk, [returned()], "S2", opening="1100.00")
    take_back_return(line_id=the_return().pk, actor=clerk)
    ivan = UserFactory(username="ivan", account=None, is_staff=True)
    ivan.user_permissions.add(Permission.objects.get(codename="import_statementfile"))
    run_import(bank, User.objects.get(pk=ivan.pk), [paid(customer, booked=date(2026, 12, 3))], "S3")
    return StatementLine.objects.get(booking_date=date(2026, 12, 3))


def test_giving_back_on_confirmation_keeps_confirmation_s_rules(customer, bank, clerk, checker, settings):
    """Confirming a line that gives a credit back had skipped what any confirmation checks: the page's account (a
    line assigned elsewhere since was given back to the first account anyway, and reassigned to it), and the second
    finance user above the threshold (found by a helper)."""
    from tickets.statements.crediting import assign_line, confirm_line

    rebooked = waiting_rebooking(customer, bank, clerk)
    other = UserFactory(account__name="Other Co")
    assign_line(line_id=rebooked.pk, account_id=other.account_id, actor=clerk)
    with pytest.raises(Conflict, match="assigned to another account since"):
        confirm_line(line_id=rebooked.pk, actor=checker, seen_account=str(customer.account_id))
    assert StatementLine.objects.get(pk=rebooked.pk).account_id == other.account_id
    assert balance(customer) == Money("0.00", "USD")

    with pytest.raises(Conflict, match="assign it back to give that credit back"):
        confirm_line(line_id=rebooked.pk, actor=checker, seen_account=str(other.account_id))
    assert balance(customer) == Money("0.00", "USD") and not other.account.ledger_entries.exists()
    assign_line(line_id=rebooked.pk, account_id=customer.account_id, actor=clerk)
    assert confirm_line(line_id=rebooked.pk, actor=checker).credited
    assert balance(customer) == Money("100.00", "USD") and ledger_mismatches() == []


def test_a_large_give_back_on_confirmation_needs_two_finance_users(customer, bank, clerk, checker, settings):
    from tickets.statements.crediting import confirm_line

    rebooked = waiting_rebooking(customer, bank, clerk)
    settings.TICKET_SECOND_APPROVAL_ABOVE = {"USD": 50}
    assert not confirm_line(line_id=rebooked.pk, actor=clerk).credited  # proposed
    assert balance(customer) == Money("0.00", "USD")
    with pytest.raises(Refused, match="You proposed this credit"):
        confirm_line(line_id=rebooked.pk, actor=clerk)
    assert confirm_line(line_id=rebooked.pk, actor=checker).credited
    assert balance(customer) == Money("100.00", "USD") and ledger_mismatches() == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_clerks_giving_one_credit_back_at_once_give_it_once(
    customer, bank, clerk, checker, finance_group, settings
):
    from tickets.statements.crediting import confirm_line

    settings.STATEMENT_AUTO_CREDIT = True
    rebooked = waiting_rebooking(customer, bank, clerk)
    gina = finance_clerk(finance_group, "gina")
    results = race([lambda actor=actor: confirm_line(line_id=rebooked.pk, actor=actor) for actor in (checker, gina)])
    assert sorted(result.already for result in results) == [False, True], results
    assert balance(customer) == Money("100.00", "USD") and ledger_mismatches() == []
    assert StatementLine.objects.get(pk=rebooked.pk).explanation.count("was given back") == 1


def test_a_large_give_back_on_import_waits_for_two_finance_users(customer, bank, clerk, checker, settings):
    """One clerk importing the rebooking had given back a credit above the threshold at once (found by a helper)."""
    from tickets.statements.crediting import confirm_line

    run_import(bank, clerk, [paid(customer)], "S1")
    run_import(bank, clerk, [returned()], "S2", opening="1100.00")
    take_back_return(line_id=the_return().pk, actor=clerk)
    settings.TICKET_SECOND_APPROVAL_ABOVE = {"USD": 50}
    run_import(bank, clerk, [paid(customer, booked=date(2026, 12, 3))], "S3")
    rebooked = StatementLine.objects.get(booking_date=date(2026, 12, 3))
    assert balance(customer) == Money("0.00", "USD")
    assert "a credit of 100.00 USD needs two finance users" in rebooked.explanation
    assert not confirm_line(line_id=rebooked.pk, actor=clerk).credited  # proposed
    assert confirm_line(line_id=rebooked.pk, actor=checker).credited  # the second gives it back
    assert balance(customer) == Money("100.00", "USD") and ledger_mismatches() == []


def test_a_second_return_waits_for_the_rebooking_it_follows_to_be_given_back(customer, bank, clerk, checker):
    """Returned, taken back, booked again (waiting to be given back), returned again: taking the second return back
    had been refused as "taken back in full already", then the rebooking's confirmation gave the credit back, and
    the customer kept what the bank took back twice (found by a helper)."""
    from tickets.statements.crediting import confirm_line

    rebooked = waiting_rebooking(customer, bank, clerk)
    run_import(bank, clerk, [returned(booked=date(2026, 12, 4))], "S4", opening="1100.00")
    second = StatementLine.objects.get(booking_date=date(2026, 12, 4))
    with pytest.raises(Conflict, match="waits to be confirmed, which gives its credit back: confirm it first"):
        take_back_return(line_id=second.pk, actor=clerk)
    confirm_line(line_id=rebooked.pk, actor=checker)
    take_back_return(line_id=second.pk, actor=clerk)
    assert balance(customer) == Money("0.00", "USD") and ledger_mismatches() == []
    run_import(bank, clerk, [returned(booked=date(2026, 12, 5))], "S5", opening="1000.00")
    third = StatementLine.objects.get(booking_date=date(2026, 12, 5))
    with pytest.raises(Conflict, match="taken back in full already"):  # the rebooking no longer waits
        take_back_return(line_id=third.pk, actor=clerk)


def two_returns_taken_back(customer, bank, clerk) -> None:
    """100.00 credited; the bank returns 40.00 of it twice, and finance takes both back: 20.00 left."""
    run_import(bank, clerk, [paid(customer)], "S1")
    again = Entry("-40.00", "FT-RET", remittance="RETURN again", booked=date(2026, 12, 3))
    run_import(bank, clerk, [returned("-40.00"), again], "S2", opening="1100.00")
    for debit in StatementLine.objects.filter(amount__lt=0).order_by("pk"):
        take_back_return(line_id=debit.pk, actor=clerk)
    assert balance(customer) == Money("20.00", "USD")


def test_two_returns_booked_again_on_two_statements_are_both_given_back(customer, bank, clerk):
    """Each rebooking had been paired with the latest return, given back already by the first: the customer lost the
    other 40.00 (found by a helper)."""
    two_returns_taken_back(customer, bank, clerk)
    run_import(bank, clerk, [paid(customer, "40.00", booked=date(2026, 12, 5))], "S3", opening="1020.00")
    assert balance(customer) == Money("60.00", "USD")
    run_import(bank, clerk, [paid(customer, "40.00", booked=date(2026, 12, 6))], "S4", opening="1060.00")
    assert balance(customer) == Money("100.00", "USD") and ledger_mismatches() == []


def test_two_waiting_rebookings_confirmed_one_by_one_are_both_given_back(client, customer, bank, clerk, checker):
    from django.contrib.auth.models import Permission
    from django.contrib.messages import get_messages

    from accounts.models import User
    from tickets.statements.crediting import confirm_line

    two_returns_taken_back(customer, bank, clerk)
    ivan = UserFactory(username="ivan", account=None, is_staff=True)
    ivan.user_permissions.add(Permission.objects.get(codename="import_statementfile"))
    rebookings = [paid(customer, "40.00", booked=date(2026, 12, 5)), paid(customer, "40.00", booked=date(2026, 12, 6))]
    run_import(bank, User.objects.get(pk=ivan.pk), rebookings, "S3", opening="1020.00")
    assert balance(customer) == Money("20.00", "USD")
    first, second = StatementLine.objects.filter(amount__gt=0, booking_date__gte=date(2026, 12, 5)).order_by("pk")
    assert confirm_line(line_id=first.pk, actor=checker).credited
    staff_login(client, checker)  # the list's action says what came back, as any credit
    action = {"action": "confirm_lines", "_selected_action": [second.pk]}
    page = through_confirmation(client, LINES, action, follow=True)
    said = " ".join(str(message) for message in get_messages(page.wsgi_request))
    assert "credited 40.00 USD" in said and "nothing credited again" not in said
    assert balance(customer) == Money("100.00", "USD") and ledger_mismatches() == []
