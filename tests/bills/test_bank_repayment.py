"""Repaying a bill by bank transfer: the Repay page's second method, a Transfer Ticket that
names the bill, and finance's confirmation crediting it as a repayment that settles that bill first."""

import pytest
from djmoney.money import Money

from accounts.models import LedgerEntry
from accounts.verification import ledger_mismatches
from bills.models import Bill, Settlement
from tests.bills.conftest import NOVEMBER, OCTOBER, at, charge, close
from tests.bills.test_pages import pay_in_sandbox
from tests.factories import PostpaidAccountFactory, UserFactory
from tests.tickets.conftest import make_ticket, ticket_form_data
from tickets.models import TransferTicket
from tickets.review import confirm_and_credit
from topups.models import TopUp

pytestmark = pytest.mark.django_db


@pytest.fixture
def billed(bob):
    charge(bob.account, "30.00", at(2026, 10, 10), "oct")
    charge(bob.account, "50.00", at(2026, 11, 10), "nov")
    return close(bob.account, OCTOBER), close(bob.account, NOVEMBER)


def test_the_bank_transfer_method_shows_where_to_pay_and_each_bill_to_quote(client, bob, billed, bank):
    client.force_login(bob)
    page = client.get("/billing/repay/bank-transfer/").content.decode()
    assert "DE89 3704 0044 0532 0130 00" in page
    for bill in billed:
        assert bill.number in page and f"/billing/tickets/new/?bill={bill.number}" in page


def test_a_ticket_opened_from_a_bill_names_it_and_prefills_what_is_left(client, bob, billed, bank, certificate_dir):
    _, november = billed
    client.force_login(bob)
    form = client.get(f"/billing/tickets/new/?bill={november.number}").content.decode()
    assert november.number in form and "50.00" in form
    response = client.post(
        "/billing/tickets/new/", ticket_form_data(bank, bill_number=november.number.lower(), amount="50.00")
    )
    assert response.status_code == 303
    ticket = TransferTicket.objects.get()
    assert ticket.bill == november
    assert november.number in client.get(f"/billing/tickets/{ticket.number}/").content.decode()


def test_finance_confirming_the_ticket_credits_a_repayment_that_settles_the_named_bill_first(bob, billed, bank, clerk):
    october, november = billed
    ticket = make_ticket(bob, bank, bill=november, amount=Money("60.00", "USD"))

    for _ in range(2):  # a double click
        confirm_and_credit(ticket_id=ticket.pk, actor=clerk, received=Money("60.00", "USD"), bank_reference="ST-1")

    november.refresh_from_db()
    october.refresh_from_db()
    assert november.status == Bill.Status.PAID
    assert (october.status, october.amount_paid) == (Bill.Status.PARTLY_PAID, Money("10.00", "USD"))
    entry = LedgerEntry.objects.exclude(kind=LedgerEntry.Kind.USAGE).get()  # a repayment, not a bank_transfer
    assert (entry.kind, entry.amount, entry.actor) == (LedgerEntry.Kind.REPAYMENT, Money("60.00", "USD"), clerk)
    assert Settlement.objects.count() == 2
    assert ledger_mismatches() == []


@pytest.mark.parametrize("number", ["BL-1999-01-000001", "x" * 31, "１", "' OR 1=1 --"])
def test_a_bill_number_not_on_the_account_is_a_form_error_and_nothing_is_written(
    client, bob, billed, bank, certificate_dir, number
):
    other = UserFactory(account=PostpaidAccountFactory())
    charge(other.account, "9.00", at(2026, 11, 3), "other")
    theirs = close(other.account, NOVEMBER)
    client.force_login(bob)
    for value in (number, theirs.number):
        response = client.post("/billing/tickets/new/", ticket_form_data(bank, bill_number=value))
        assert response.status_code == 400
    assert not TransferTicket.objects.exists()


def test_a_prepaid_ticket_cannot_name_a_bill(client, bank, certificate_dir):
    alice = UserFactory()
    client.force_login(alice)
    response = client.post("/billing/tickets/new/", ticket_form_data(bank, bill_number="BL-2026-11-000001"))
    assert response.status_code == 303  # the field is not on a prepaid form: ignored, a top-up ticket
    assert TransferTicket.objects.get().bill is None


def test_a_bill_paid_by_ticket_while_its_online_repayment_waits_keeps_the_second_payment_as_credit(
    client, bob, billed, bank, clerk
):
    october, november = billed
    client.force_login(bob)
    client.post("/billing/repay/", {"bills": [str(november.pk)], "request_key": "online-november"})
    online = TopUp.objects.get()  # waiting at the gateway while finance confirms the ticket
    ticket = make_ticket(bob, bank, bill=november, amount=Money("80.00", "USD"))
    confirm_and_credit(ticket_id=ticket.pk, actor=clerk, received=Money("80.00", "USD"), bank_reference="ST-2")

    pay_in_sandbox(client, online)

    october.refresh_from_db()
    november.refresh_from_db()
    assert (october.status, november.status) == (Bill.Status.PAID, Bill.Status.PAID)
    assert sum(s.amount.amount for s in Settlement.objects.all()) == 80  # nothing settled twice
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.REPAYMENT).count() == 2
    bob.account.refresh_from_db()
    assert bob.account.balance == Money("50.00", "USD")  # 130 repaid for 80 billed: credit for the next bill
    assert ledger_mismatches() == []
