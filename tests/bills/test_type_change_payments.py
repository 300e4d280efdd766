"""Payments that reach an account after its type changed. A payment is a repayment when its account is
postpaid at the moment it is credited (bills.settlement.credit_payment, under the account's lock), whatever it
was started as; a repayment's chargeback comes off what the account repaid only while it is postpaid. In each
case the bills ask for what the balance says is owed, no more and no less (found by a helper)."""

import pytest
import time_machine
from djmoney.money import Money

from accounts.ledger import NewEntry, credit_deposits
from accounts.lifecycle import change_account_type
from accounts.models import Account, LedgerEntry
from accounts.verification import ledger_mismatches
from bills.models import Bill
from bills.settlement import repay
from money.errors import Conflict, Refused
from tests.bills.conftest import DECEMBER, NOVEMBER, at, charge, close
from tests.factories import PendingTopUpFactory, PrepaidAccountFactory, UserFactory
from tests.fakes.stripe import dispute_object, event, paid_session, post_webhook, signed
from tests.intake import apply_stored
from topups.exceptions import RefundRefused
from topups.models import TopUp
from topups.notices import close_topup
from topups.receipts import receipt_rows
from topups.refunds import request_refund

pytestmark = pytest.mark.django_db


def usd(amount: str) -> Money:
    return Money(amount, "USD")


def owed_on_bills(account) -> Money:
    return sum((bill.amount_due - bill.amount_paid for bill in Bill.objects.filter(account=account)), usd("0"))


def pay_by_card(client, topup, intent: str) -> None:
    post_webhook(client, *signed(event("checkout.session.completed", paid_session(topup, payment_intent=intent))))
    apply_stored()


def paid_and_spent_then_postpaid(client, intent: str):
    """Eve's account: a card top-up of 100.00 on 20 October, spent the next day, the account postpaid from
    1 November; (account, eve, that top-up)."""
    account = PrepaidAccountFactory(name="Eve")
    eve = UserFactory(username="eve", account=account, email="eve@example.com")
    topup = PendingTopUpFactory(account=account, created_by=eve, amount=usd("100.00"))
    with time_machine.travel(at(2026, 10, 20, 12), tick=False):
        pay_by_card(client, topup, intent)
    charge(account, "100.00", at(2026, 10, 21), "spent-while-prepaid")
    with time_machine.travel(at(2026, 11, 1, 9), tick=False):
        change_account_type(account_id=account.pk, kind=Account.Type.POSTPAID)
    return account, eve, topup


def test_a_repayment_paid_late_on_an_account_turned_prepaid_is_credited_as_a_top_up(client, bob, stripe_settings):
    account = bob.account
    charge(account, "30.00", at(2026, 11, 3), "nov")
    november = close(account, NOVEMBER)
    late = PendingTopUpFactory(account=account, created_by=bob, purpose=TopUp.Purpose.REPAYMENT, amount=usd("30.00"))
    late.bills.set([november])
    assert close_topup(late.pk, status=TopUp.Status.EXPIRED, reason="expired")  # bob gave up on the card page
    repay(account_id=account.pk, amount=usd("30.00"), source_ref="ticket:paid-by-transfer")  # and paid by transfer
    change_account_type(account_id=account.pk, kind=Account.Type.PREPAID)
    with time_machine.travel(at(2026, 12, 2, 12), tick=False):
        pay_by_card(client, late, "pi_late_repayment")  # the card payment completes after all

    late.refresh_from_db()
    assert late.status == TopUp.Status.CREDITED
    assert late.ledger_entry.kind == LedgerEntry.Kind.ONLINE_TOPUP  # a prepaid account's money: its balance
    assert late.ledger_entry.description == f"Online top-up {late.reference}"  # and says so, not "repayment"
    charge(account, "30.00", at(2026, 12, 3), "spent-while-prepaid")
    change_account_type(account_id=account.pk, kind=Account.Type.POSTPAID)
    charge(account, "40.00", at(2026, 12, 20), "dec")
    december = close(account, DECEMBER)

    account.refresh_from_db()
    december.refresh_from_db()
    assert account.balance == usd("-40.00")
    assert owed_on_bills(account) == usd("40.00")  # the spent 30.00 paid no bill
    assert december.amount_paid == usd("0.00")
    assert ledger_mismatches() == []


def test_a_top_up_paid_late_on_an_account_turned_postpaid_repays_its_bill(client, stripe_settings):
    account = PrepaidAccountFactory(name="Eve")
    eve = UserFactory(username="eve", account=account, email="eve@example.com")
    late = PendingTopUpFactory(account=account, created_by=eve, amount=usd("50.00"))
    assert close_topup(late.pk, status=TopUp.Status.EXPIRED, reason="expired")
    with time_machine.travel(at(2026, 11, 1, 9), tick=False):
        change_account_type(account_id=account.pk, kind=Account.Type.POSTPAID)
    charge(account, "50.00", at(2026, 11, 3), "nov")
    with time_machine.travel(at(2026, 11, 20, 12), tick=False):
        pay_by_card(client, late, "pi_late_topup")  # through the batch, as every delivery is
    november = close(account, NOVEMBER)

    late.refresh_from_db()
    assert late.ledger_entry.kind == LedgerEntry.Kind.REPAYMENT
    assert late.ledger_entry.description == f"Online repayment {late.reference}; kept as credit"
    account.refresh_from_db()
    november.refresh_from_db()
    assert account.balance == usd("0.00")
    assert (november.status, owed_on_bills(account)) == (Bill.Status.PAID, usd("0.00"))  # not asked for twice
    assert ledger_mismatches() == []


def test_a_chargeback_of_a_repayment_after_turning_prepaid_leaves_its_bill_paid(client, bob, stripe_settings):
    account = bob.account
    charge(account, "30.00", at(2026, 11, 3), "nov")
    november = close(account, NOVEMBER)
    repayment = PendingTopUpFactory(account=account, created_by=bob, purpose=TopUp.Purpose.REPAYMENT, amount=usd("30"))
    repayment.bills.set([november])
    with time_machine.travel(at(2026, 12, 2, 12), tick=False):
        pay_by_card(client, repayment, "pi_repaid")
    change_account_type(account_id=account.pk, kind=Account.Type.PREPAID)  # its bills paid, its balance zero
    dispute = dispute_object(payment_intent="pi_repaid", amount=3000, id="du_after_prepaid")
    post_webhook(client, *signed(event("charge.dispute.created", dispute)))
    post_webhook(client, *signed(event("charge.dispute.closed", {**dispute, "status": "lost"})))
    apply_stored()

    account.refresh_from_db()
    november.refresh_from_db()
    assert account.balance == usd("-30.00")  # the balance says what the bank took back, and what is owed
    assert (november.status, november.amount_paid) == (Bill.Status.PAID, usd("30.00"))
    topup = PendingTopUpFactory(account=account, created_by=bob, amount=usd("30"))
    pay_by_card(client, topup, "pi_cleared")  # the prepaid way to pay it
    account.refresh_from_db()
    assert account.balance == usd("0.00")
    assert owed_on_bills(account) == usd("0.00")  # asked once, not on a bill as well
    assert ledger_mismatches() == []


def test_a_repayment_is_refused_for_an_account_that_is_not_postpaid():
    account = PrepaidAccountFactory(name="Alice")
    with pytest.raises(Refused) as refused:
        repay(account_id=account.pk, amount=usd("10.00"), source_ref="ticket:not-postpaid")
    assert refused.value.code == "not_postpaid"
    assert not LedgerEntry.objects.filter(account=account).exists()


def test_a_batch_of_payments_refuses_one_to_a_postpaid_account(bob):
    """Its callers read the type before the accounts' locks; the batch reads it again under them and refuses all,
    so each is credited alone, a postpaid account's as a repayment."""
    alice = PrepaidAccountFactory(name="Alice")
    payments = [
        NewEntry(alice.pk, usd("10.00"), LedgerEntry.Kind.BANK_TRANSFER, "batch:alice"),
        NewEntry(bob.account.pk, usd("20.00"), LedgerEntry.Kind.BANK_TRANSFER, "batch:bob"),
    ]
    with pytest.raises(Conflict) as refused:
        credit_deposits(payments)
    assert refused.value.code == "repayment"
    assert not LedgerEntry.objects.filter(source_ref__startswith="batch:").exists()


def test_a_won_dispute_mirrors_its_chargeback_not_the_accounts_type_now(client, stripe_settings):
    """A prepaid top-up's chargeback after the account turned postpaid is not the bills'; its win is not either (it
    had paid a bill the balance still owed; found by a helper)."""
    account, _eve, topup = paid_and_spent_then_postpaid(client, "pi_prepaid")
    charge(account, "40.00", at(2026, 11, 3), "nov")
    close(account, NOVEMBER)
    dispute = dispute_object(payment_intent="pi_prepaid", amount=10000, id="du_prepaid")
    post_webhook(client, *signed(event("charge.dispute.created", dispute)))
    post_webhook(client, *signed(event("charge.dispute.closed", {**dispute, "status": "won"})))
    apply_stored()

    account.refresh_from_db()
    assert account.balance == usd("-40.00")
    assert owed_on_bills(account) == usd("40.00")
    assert ledger_mismatches() == []


def test_a_top_up_credited_as_a_repayment_is_refunded_as_one_would_be(client, stripe_settings, clerk, fake_stripe):
    """It is the bills' credit: refunding it would pay bills with money that went back (found by a helper)."""
    account = PrepaidAccountFactory(name="Eve")
    eve = UserFactory(username="eve", account=account, email="eve@example.com")
    late = PendingTopUpFactory(account=account, created_by=eve, amount=usd("80.00"))
    assert close_topup(late.pk, status=TopUp.Status.EXPIRED, reason="expired")
    with time_machine.travel(at(2026, 11, 1, 9), tick=False):
        change_account_type(account_id=account.pk, kind=Account.Type.POSTPAID)
    with time_machine.travel(at(2026, 11, 20, 12), tick=False):
        pay_by_card(client, late, "pi_late_refund")
    late.refresh_from_db()
    with pytest.raises(RefundRefused, match="is a repayment of bills"):
        request_refund(topup_id=late.pk, amount=usd("30.00"), reason="asked", actor=clerk)
    assert "Settles" in dict(receipt_rows(late))  # its receipt says what it settled, as a repayment's


def test_a_repayment_credited_as_a_top_up_has_a_top_ups_receipt(client, bob, stripe_settings):
    account = bob.account
    charge(account, "30.00", at(2026, 11, 3), "nov")
    november = close(account, NOVEMBER)
    late = PendingTopUpFactory(account=account, created_by=bob, purpose=TopUp.Purpose.REPAYMENT, amount=usd("30"))
    late.bills.set([november])
    assert close_topup(late.pk, status=TopUp.Status.EXPIRED, reason="expired")
    repay(account_id=account.pk, amount=usd("30.00"), source_ref="ticket:paid-by-transfer")
    change_account_type(account_id=account.pk, kind=Account.Type.PREPAID)
    with time_machine.travel(at(2026, 12, 2, 12), tick=False):
        pay_by_card(client, late, "pi_late_receipt")
    late.refresh_from_db()
    assert "Settles" not in dict(receipt_rows(late))  # no "kept as credit for the next bills" on a prepaid account


def test_a_card_payment_completing_after_its_account_became_a_member_waits_for_finance(client, stripe_settings):
    """A member's funds come from its master and it takes no top-up: a late card payment had been credited to it
    without a word, and its master could reclaim the payer's money (found by a helper). Finance decides, as for a
    bank transfer quoting a member's reference."""
    carol_account = PrepaidAccountFactory(name="Carol")
    carol = UserFactory(username="carol", account=carol_account, email="carol@example.com")
    late = PendingTopUpFactory(account=carol_account, created_by=carol, amount=usd("80.00"))
    assert close_topup(late.pk, status=TopUp.Status.EXPIRED, reason="expired")  # carol gave up on the card page
    master = PrepaidAccountFactory(name="Dave Corp")
    member = Account.Type.ENTERPRISE_MEMBER
    change_account_type(account_id=carol_account.pk, kind=member, enterprise_master_id=master.pk)

    for _ in range(2):  # and Stripe's retry
        pay_by_card(client, late, "pi_late_member")

    late.refresh_from_db()
    carol_account.refresh_from_db()
    assert late.status == TopUp.Status.EXPIRED and late.ledger_entry is None
    assert late.needs_review and "enterprise member of Dave Corp, which takes no top-ups" in late.review_note
    assert carol_account.balance == usd("0.00") and not LedgerEntry.objects.filter(account=carol_account).exists()
    assert ledger_mismatches() == []


def test_a_refund_of_a_prepaid_top_up_on_an_account_turned_postpaid_needs_the_override(
    client, stripe_settings, clerk, fake_stripe
):
    """The account's balance is what it repaid in advance, for its bills: a refund of a top-up of its prepaid days,
    checked against it, had spent the bills' credit, and the next bill was marked paid with its usage owed (found by
    a helper). Finance may still refund, knowingly, with the override and a reason."""
    account, eve, old = paid_and_spent_then_postpaid(client, "pi_prepaid_days")
    advance = PendingTopUpFactory(account=account, created_by=eve, purpose=TopUp.Purpose.REPAYMENT, amount=usd("100"))
    with time_machine.travel(at(2026, 11, 2, 12), tick=False):
        pay_by_card(client, advance, "pi_advance")  # kept as credit for November's bill

    with pytest.raises(RefundRefused, match="Eve is postpaid now: its balance of 100.00 USD is repaid money"):
        request_refund(topup_id=old.pk, amount=usd("100.00"), reason="Customer asked", actor=clerk)
    charge(account, "100.00", at(2026, 11, 10), "nov")
    november = close(account, NOVEMBER)
    november.refresh_from_db()
    assert november.status == Bill.Status.PAID and owed_on_bills(account) == usd("0.00")  # by the advance

    refund = request_refund(topup_id=old.pk, amount=usd("10.00"), reason="Goodwill", actor=clerk, override=True)
    assert refund.balance_override  # knowingly: what it takes, no bill asks for
    assert ledger_mismatches() == []


def test_a_refund_of_a_prepaid_top_up_on_an_account_turned_member_needs_the_override(
    client, stripe_settings, clerk, fake_stripe
):
    """The member's balance is what its master allocated: a refund of a top-up of its prepaid days, checked against
    it, had paid the customer back with the master's money (found by a helper)."""
    import uuid

    from accounts.enterprise import allocate

    account = PrepaidAccountFactory(name="Eve")
    eve = UserFactory(username="eve", account=account, email="eve@example.com")
    old = PendingTopUpFactory(account=account, created_by=eve, amount=usd("100.00"))
    with time_machine.travel(at(2026, 10, 20, 12), tick=False):
        pay_by_card(client, old, "pi_prepaid_days")
    charge(account, "100.00", at(2026, 10, 21), "spent-while-prepaid")
    master = PrepaidAccountFactory(name="Dave Corp")
    dave = UserFactory(username="dave", account=master, email="dave@example.com")
    pay_by_card(client, PendingTopUpFactory(account=master, created_by=dave, amount=usd("500.00")), "pi_master")
    member = Account.Type.ENTERPRISE_MEMBER
    change_account_type(account_id=account.pk, kind=member, enterprise_master_id=master.pk)
    allocate(master_id=master.pk, member_id=account.pk, amount=usd("100.00"), actor=dave, request_key=uuid.uuid4().hex)

    with pytest.raises(RefundRefused, match="Eve is an enterprise member now: its balance of 100.00 USD is what"):
        request_refund(topup_id=old.pk, amount=usd("100.00"), reason="Customer asked", actor=clerk)
    refund = request_refund(topup_id=old.pk, amount=usd("10.00"), reason="Goodwill", actor=clerk, override=True)
    assert refund.balance_override
    assert ledger_mismatches() == []
