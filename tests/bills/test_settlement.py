"""Repayments settle bills oldest first (or the chosen ones first); an overpayment is credit
that the next bill uses."""

from datetime import UTC, datetime, time, timedelta

import pytest
import time_machine
from djmoney.money import Money

from accounts.models import LedgerEntry
from accounts.verification import ledger_mismatches
from bills.models import Bill, Settlement
from bills.settlement import repay, unapplied_credit
from tests.bills.conftest import DECEMBER, NOVEMBER, OCTOBER, at, charge, close

pytestmark = pytest.mark.django_db


def usd(amount: str) -> Money:
    return Money(amount, "USD")


@pytest.fixture
def two_bills(bob):
    account = bob.account
    charge(account, "30.00", at(2026, 10, 10), "oct")
    charge(account, "50.00", at(2026, 11, 10), "nov")
    return close(account, OCTOBER), close(account, NOVEMBER)


def test_a_repayment_settles_the_oldest_bill_first(bob, two_bills):
    october, november = two_bills
    result = repay(account_id=bob.account.pk, amount=usd("40.00"), source_ref="test:1")

    october.refresh_from_db()
    november.refresh_from_db()
    assert (october.status, october.amount_paid) == (Bill.Status.PAID, usd("30.00"))
    assert (november.status, november.amount_paid) == (Bill.Status.PARTLY_PAID, usd("10.00"))
    settled = [(s.bill_id, s.amount) for s in result.settlements]
    assert settled == [(october.pk, usd("30.00")), (november.pk, usd("10.00"))]
    entry = LedgerEntry.objects.get(kind=LedgerEntry.Kind.REPAYMENT)
    assert entry.amount == usd("40.00")
    assert entry.description.endswith(f"settles {october.number}, {november.number}")  # what the statement shows
    bob.account.refresh_from_db()
    assert bob.account.balance == usd("-40.00")
    assert ledger_mismatches() == []


def test_the_chosen_bills_are_settled_first(bob, two_bills):
    october, november = two_bills
    repay(account_id=bob.account.pk, amount=usd("50.00"), source_ref="test:1", bill_ids=[november.pk])
    october.refresh_from_db()
    november.refresh_from_db()
    assert november.status == Bill.Status.PAID
    assert october.status == Bill.Status.OPEN


def test_the_same_repayment_delivered_twice_credits_and_settles_once(bob, two_bills):
    for _ in range(2):
        repay(account_id=bob.account.pk, amount=usd("30.00"), source_ref="test:same")
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.REPAYMENT).count() == 1
    assert Settlement.objects.count() == 1


def test_an_overpayment_stays_as_credit_and_pays_the_next_bill_when_it_is_issued(bob, two_bills):
    october, november = two_bills
    repay(account_id=bob.account.pk, amount=usd("100.00"), source_ref="test:big")
    assert Bill.objects.filter(status=Bill.Status.PAID).count() == 2
    assert sum(s.amount.amount for s in Settlement.objects.all()) == 80  # 20.00 is left as credit

    charge(bob.account, "25.00", at(2026, 12, 10), "dec")
    december = close(bob.account, DECEMBER)

    assert december.amount_paid == usd("20.00")
    assert december.status == Bill.Status.PARTLY_PAID
    assert december.settlements.get().source_ref == f"bill:{december.pk}"
    bob.account.refresh_from_db()
    assert bob.account.balance == usd("-5.00")  # 105 used, 100 repaid


def test_an_overdue_bill_partly_paid_stays_overdue_until_paid(bob, two_bills):
    october, _ = two_bills
    Bill.objects.filter(pk=october.pk).update(status=Bill.Status.OVERDUE)
    repay(account_id=bob.account.pk, amount=usd("10.00"), source_ref="test:part")
    october.refresh_from_db()
    assert october.status == Bill.Status.OVERDUE
    repay(account_id=bob.account.pk, amount=usd("20.00"), source_ref="test:rest")
    october.refresh_from_db()
    assert october.status == Bill.Status.PAID


PI_REPAY = "pi_3QtestRepayDispute00001"


def charged_back_repayment(client, bob, bill, outcome: str):
    """bob repays the bill by card; the bank then disputes the payment, which ends `outcome` ("" while open)."""
    from tests.factories import PendingTopUpFactory
    from tests.fakes.stripe import dispute_object, event, paid_session, post_webhook, signed
    from tests.intake import apply_stored
    from topups.models import TopUp

    repayment = PendingTopUpFactory(
        account=bob.account, created_by=bob, purpose=TopUp.Purpose.REPAYMENT, amount=Money("30.00", "USD")
    )
    repayment.bills.set([bill])
    post_webhook(client, *signed(event("checkout.session.completed", paid_session(repayment, payment_intent=PI_REPAY))))
    apply_stored()
    bill.refresh_from_db()
    assert bill.status == Bill.Status.PAID
    dispute = dispute_object(payment_intent=PI_REPAY, amount=3000, id="du_repay")
    post_webhook(client, *signed(event("charge.dispute.created", dispute)))
    if outcome:
        post_webhook(client, *signed(event("charge.dispute.closed", {**dispute, "status": outcome})))
    apply_stored()
    bill.refresh_from_db()
    return repayment


def test_a_charged_back_repayment_leaves_its_bill_unpaid_again(client, bob, stripe_settings):
    """The bill had stayed "paid" after the bank took the repayment back: the debt was billed nowhere, and the next
    payment counted as fresh credit (found by a helper)."""
    charge(bob.account, "30.00", at(2026, 11, 3), "nov")
    bill = close(bob.account, NOVEMBER)
    with time_machine.travel(at(2026, 12, 5, 12), tick=False):
        charged_back_repayment(client, bob, bill, "lost")
    assert (bill.status, bill.amount_paid) == (Bill.Status.OPEN, Money("0.00", "USD"))
    assert unapplied_credit(bob.account_id, "USD") == Money("0.00", "USD")
    assert [s.amount for s in bill.settlements.order_by("pk")] == [Money("30.00", "USD"), Money("-30.00", "USD")]
    client.force_login(bob)
    assert bill.number in client.get("/billing/repay/").content.decode()  # payable again
    repay(account_id=bob.account_id, amount=Money("30.00", "USD"), source_ref="ticket:again", description="Again")
    bill.refresh_from_db()
    assert bill.status == Bill.Status.PAID and ledger_mismatches() == []


def test_a_won_dispute_of_a_repayment_settles_its_bill_again(client, bob, stripe_settings):
    charge(bob.account, "30.00", at(2026, 11, 3), "nov")
    bill = close(bob.account, NOVEMBER)
    charged_back_repayment(client, bob, bill, "won")
    assert bill.status == Bill.Status.PAID and bill.amount_paid == Money("30.00", "USD")
    assert unapplied_credit(bob.account_id, "USD") == Money("0.00", "USD") and ledger_mismatches() == []


def test_a_chargeback_after_the_due_date_leaves_the_bill_overdue(client, bob, stripe_settings):
    charge(bob.account, "30.00", at(2026, 11, 3), "nov")
    bill = close(bob.account, NOVEMBER)
    with time_machine.travel(datetime.combine(bill.due_on + timedelta(days=3), time(12), tzinfo=UTC), tick=False):
        charged_back_repayment(client, bob, bill, "")
    assert bill.status == Bill.Status.OVERDUE and bill.paid_at is None


def card_repayment(client, bob, bill, amount: str, payment_intent: str):
    from tests.factories import PendingTopUpFactory
    from tests.fakes.stripe import event, paid_session, post_webhook, signed
    from tests.intake import apply_stored
    from topups.models import TopUp

    repayment = PendingTopUpFactory(
        account=bob.account, created_by=bob, purpose=TopUp.Purpose.REPAYMENT, amount=Money(amount, "USD")
    )
    repayment.bills.set([bill])
    post_webhook(
        client, *signed(event("checkout.session.completed", paid_session(repayment, payment_intent=payment_intent)))
    )
    apply_stored()


def charged_back(client, payment_intent: str, cents: int):
    from tests.fakes.stripe import dispute_object, event, post_webhook, signed
    from tests.intake import apply_stored

    dispute = dispute_object(payment_intent=payment_intent, amount=cents, id=f"du_{payment_intent[-6:]}")
    post_webhook(client, *signed(event("charge.dispute.created", dispute)))
    post_webhook(client, *signed(event("charge.dispute.closed", {**dispute, "status": "lost"})))
    apply_stored()


def owed_on_bills(account) -> Money:
    return sum((bill.amount_due - bill.amount_paid for bill in Bill.objects.filter(account=account)), Money(0, "USD"))


def test_a_chargeback_takes_back_what_the_repayments_leftover_credit_paid_on_a_later_bill(client, bob, stripe_settings):
    """50.00 repaid a 30.00 bill; its 20.00 of credit paid part of the next bill at the close; the bank then took
    all 50.00 back. Only the repayment's own settlement had been reversed: 20.00 was owed on no bill, and the next
    20.00 paid would have settled nothing (found by a helper)."""
    charge(bob.account, "30.00", at(2026, 11, 3), "nov")
    november = close(bob.account, NOVEMBER)
    with time_machine.travel(at(2026, 11, 5, 12), tick=False):
        card_repayment(client, bob, november, "50.00", "pi_3QtestLeftover000001")
    charge(bob.account, "40.00", at(2026, 12, 3), "dec")
    close(bob.account, DECEMBER)
    charged_back(client, "pi_3QtestLeftover000001", 5000)
    bob.account.refresh_from_db()
    assert bob.account.balance == Money("-70.00", "USD") and owed_on_bills(bob.account) == Money("70.00", "USD")
    assert unapplied_credit(bob.account_id, "USD") == Money("0.00", "USD") and ledger_mismatches() == []


def test_a_partial_chargeback_takes_the_unused_credit_before_reopening_a_paid_bill(client, bob, stripe_settings):
    charge(bob.account, "30.00", at(2026, 11, 3), "nov")
    november = close(bob.account, NOVEMBER)
    card_repayment(client, bob, november, "50.00", "pi_3QtestPartial0000001")
    charged_back(client, "pi_3QtestPartial0000001", 2000)
    november.refresh_from_db()
    assert (november.status, november.amount_paid) == (Bill.Status.PAID, Money("30.00", "USD"))
    assert unapplied_credit(bob.account_id, "USD") == Money("0.00", "USD") and ledger_mismatches() == []


def test_a_prepaid_top_ups_chargeback_after_the_switch_to_postpaid_does_not_eat_the_repayments(client, stripe_settings):
    """The chargeback of a top-up from the account's prepaid days had counted against its postpaid credit: a
    30.00 repayment of a 30.00 bill settled nothing (found by a helper). It is the account's debt, flagged."""
    from accounts.ledger import post_ledger_entry
    from accounts.lifecycle import change_account_type
    from accounts.models import Account
    from tests.factories import PendingTopUpFactory, UserFactory
    from tests.fakes.stripe import dispute_object, event, paid_session, post_webhook, signed
    from tests.intake import apply_stored

    user = UserFactory()
    topup = PendingTopUpFactory(account=user.account, created_by=user, amount=Money("100.00", "USD"))
    post_webhook(
        client,
        *signed(event("checkout.session.completed", paid_session(topup, payment_intent="pi_3QtestPrepaidEra01"))),
    )
    apply_stored()
    post_ledger_entry(account_id=user.account_id, amount=Money("-100.00", "USD"), kind="usage", source_ref="spent")
    with time_machine.travel(at(2026, 11, 1), tick=False):  # postpaid from November: its usage there is billed
        change_account_type(account_id=user.account_id, kind="postpaid")
    post_webhook(
        client,
        *signed(event("charge.dispute.created", dispute_object(payment_intent="pi_3QtestPrepaidEra01", amount=10000))),
    )
    apply_stored()
    account = Account.objects.get(pk=user.account_id)
    assert account.balance == Money("-100.00", "USD") and account.needs_review
    charge(account, "30.00", at(2026, 11, 3), "nov")
    bill = close(account, NOVEMBER)
    repay(account_id=account.pk, amount=Money("30.00", "USD"), source_ref="ticket:nov", description="November")
    bill.refresh_from_db()
    assert bill.status == Bill.Status.PAID and ledger_mismatches() == []


@pytest.mark.parametrize("outcome", ["lost", "won"])
def test_a_charged_back_repayments_receipt_says_what_the_bank_took_and_which_bills_are_unpaid_again(
    client, bob, stripe_settings, outcome
):
    """The receipt had still said the repayment settled its bill, with nothing about the chargeback that made the
    bill unpaid again (left alone in the closing note of 2026-12-05)."""
    charge(bob.account, "30.00", at(2026, 11, 3), "nov")
    bill = close(bob.account, NOVEMBER)
    repayment = charged_back_repayment(client, bob, bill, outcome)
    client.force_login(bob)
    page = client.get(f"/billing/topups/{repayment.public_id}/receipt/").content.decode()
    assert f"{bill.number} (30.00 USD)" in page  # what it settled when it was credited
    assert "30.00 USD taken back by the card&#x27;s bank (du_repay; −30.00 USD from the balance)" in page
    assert f"Unpaid again: {bill.number} (30.00 USD)." in page
    if outcome == "won":
        assert f"Dispute won: 30.00 USD back on the balance. Settles again: {bill.number} (30.00 USD)." in page
        assert "<dt>Net credited</dt><dd>30.00 USD</dd>" in page
    else:
        assert "Dispute won" not in page
        assert "<dt>Net credited</dt><dd>0.00 USD</dd>" in page
    chinese = client.get(f"/billing/topups/{repayment.public_id}/receipt/", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert "taken back" not in chinese.content.decode() and "Unpaid again" not in chinese.content.decode()
    assert client.get(f"/billing/topups/{repayment.public_id}/receipt.pdf").status_code == 200
