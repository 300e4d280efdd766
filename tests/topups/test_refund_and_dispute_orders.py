# ruff: noqa: F811  (pytest fixtures imported from other test modules, named as parameters)
"""A refund and disputes of one card payment take back at most what came in, and what really left us, in any order
of Stripe's events (topups.shares): refunds paid back, chargebacks not won, never more than the credit; the
receipt's "Net credited" says what the ledger says; e-mails say what their entries moved (found by helpers)."""

from decimal import Decimal

import pytest
from djmoney.money import Money

from accounts.models import OutboundEmail
from accounts.verification import ledger_mismatches
from tests.factories import PendingTopUpFactory
from tests.fakes.stripe import charge_object, dispute_object, event, paid_session, refund_object
from tests.tickets.conftest import clerk, finance_group  # noqa: F401
from tests.topups.test_refunds_and_disputes import PI, balance, credited, deliver  # noqa: F401  (credited: a fixture)
from topups.models import Refund, WebhookDelivery
from topups.refunds import request_refund

pytestmark = pytest.mark.django_db


def dashboard_refund(client, cents, currency="usd"):
    refund = refund_object(payment_intent=PI, amount=cents, currency=currency)
    deliver(client, event("refund.created", refund))
    return refund


def dispute(client, did, cents, status="needs_response", kind="charge.dispute.created", currency="usd"):
    return deliver(
        client, event(kind, dispute_object(payment_intent=PI, amount=cents, id=did, status=status, currency=currency))
    )


def net_on_receipt(client, topup):
    client.force_login(topup.created_by)
    page = client.get(f"/billing/topups/{topup.public_id}/receipt/")
    assert page.status_code == 200
    text = page.content.decode()
    start = text.index("<dt>Net credited</dt><dd>") + len("<dt>Net credited</dt><dd>")
    return text[start : text.index("</dd>", start)]


def no_errors():
    assert list(WebhookDelivery.objects.filter(verdict="error").values_list("event_type", "error")) == []


def test_two_disputes_first_won_second_lost_takes_what_the_second_bank_took(client, credited):
    """A 100.00 payment: dispute A of 60.00 and dispute B of 60.00. A is won, B lost: the bank kept B's 60.00, so
    the net taken back must be 60.00 (balance 40.00)."""
    dispute(client, "du_A", 6000)
    dispute(client, "du_B", 6000)
    dispute(client, "du_A", 6000, status="won", kind="charge.dispute.closed")
    dispute(client, "du_B", 6000, status="lost", kind="charge.dispute.closed")
    no_errors()
    assert ledger_mismatches() == []
    assert balance(credited) == Money("40.00", "USD")


def test_a_refund_capped_by_a_won_dispute_then_a_second_dispute_lost_never_takes_more_than_came_in(client, credited):
    """Dispute A takes 100.00; a dashboard refund of 30.00 arrives (takes 0.00, flagged); A is won (70.00 back:
    the customer has 30.00 by the refund). A second dispute B of the whole payment is then lost. What left us:
    refund 30.00 + chargeback 100.00 -> capped at the credit, 100.00: the balance must not go below 0.00."""
    dispute(client, "du_A", 10000)
    dashboard_refund(client, 3000)
    dispute(client, "du_A", 10000, status="won", kind="charge.dispute.closed")
    assert balance(credited) == Money("70.00", "USD")
    dispute(client, "du_B", 10000)
    dispute(client, "du_B", 10000, status="lost", kind="charge.dispute.closed")
    no_errors()
    assert ledger_mismatches() == []
    assert balance(credited) >= Money("0.00", "USD")
    assert net_on_receipt(client, credited) == "0.00 USD"


def test_after_a_won_dispute_finance_refunds_what_is_left_without_an_override(client, credited, clerk, fake_stripe):
    """Dispute 100.00; a dashboard refund of 30.00 (took nothing); dispute won (70.00 back, balance 70.00).
    Finance refunds the 70.00 left of the payment: it takes 70.00 from a balance of 70.00, no override needed."""
    dispute(client, "du_A", 10000)
    dashboard_refund(client, 3000)
    dispute(client, "du_A", 10000, status="won", kind="charge.dispute.closed")
    assert balance(credited) == Money("70.00", "USD")
    refund = request_refund(topup_id=credited.pk, amount=Money("70.00", "USD"), reason="", actor=clerk)
    assert refund.debit_amount == Money("70.00", "USD")
    assert balance(credited) == Money("0.00", "USD")


def test_the_refund_email_of_a_refund_that_took_nothing_says_so(client, credited):
    """Dispute 100.00 first, then a dashboard refund of 30.00: the refund took 0.00 from the balance; its e-mail
    says the amount its entry moved, and why nothing more came off (there is no entry)."""
    dispute(client, "du_A", 10000)
    refund = dashboard_refund(client, 3000)
    ours = Refund.objects.get(gateway_refund_id=refund["id"])
    assert (ours.debit_amount, ours.debited) == (Money("30.00", "USD"), Money("0.00", "USD"))  # its share; taken
    mail = OutboundEmail.objects.get(dedupe_key=f"refund:{ours.public_id}")
    assert "Taken from balance: 0.00 USD" in " ".join(mail.body.split())
    assert "Your card's bank had taken this payment back already" in " ".join(mail.body.split())


def test_partial_dispute_then_bigger_refund_then_won(client, credited):
    dispute(client, "du_A", 5000)
    dashboard_refund(client, 8000)
    assert balance(credited) == Money("0.00", "USD")
    dispute(client, "du_A", 5000, status="won", kind="charge.dispute.closed")
    dispute(client, "du_A", 5000, status="won", kind="charge.dispute.closed")
    no_errors()
    assert ledger_mismatches() == []
    assert balance(credited) == Money("20.00", "USD")
    assert net_on_receipt(client, credited) == "20.00 USD"


@pytest.fixture
def converted(client, stripe_settings, fake_stripe):
    topup = PendingTopUpFactory(
        amount=Money("100.00", "CNY"), credit_amount=Money("14.08", "USD"), exchange_rate=Decimal("7.1")
    )
    session = fake_stripe.add_session(paid_session(topup, payment_intent=PI))
    deliver(client, event("checkout.session.completed", session))
    return topup


@pytest.mark.parametrize("first", ["refunds", "dispute"])
@pytest.mark.parametrize("outcome", ["won", "lost"])
def test_converted_payment_small_refunds_and_a_dispute_end_alike_in_either_order(client, converted, first, outcome):
    """100.00 CNY credited 14.08 USD; three dashboard refunds of 0.10 CNY (0.014 USD each) and a dispute of the
    whole payment: in either order the balance ends the same."""

    def refunds():
        for _ in range(3):
            dashboard_refund(client, 10, currency="cny")

    def opened():
        dispute(client, "du_C", 10000, currency="cny")

    for step in [refunds, opened] if first == "refunds" else [opened, refunds]:
        step()
    dispute(client, "du_C", 10000, status=outcome, kind="charge.dispute.closed", currency="cny")
    no_errors()
    assert ledger_mismatches() == []
    final = balance(converted)
    assert net_on_receipt(client, converted) == f"{final.amount} USD"
    expected = {"won": Money("14.05", "USD"), "lost": Money("0.00", "USD")}[outcome]  # each refund's share: 0.01
    assert final == expected


@pytest.mark.parametrize("outcome, final", [("won", "70.00"), ("lost", "0.00")])
def test_a_finance_refund_pending_while_a_dispute_arrives_then_succeeds(
    client, credited, clerk, fake_stripe, outcome, final
):
    fake_stripe.refund_status = "pending"
    refund = request_refund(topup_id=credited.pk, amount=Money("30.00", "USD"), reason="Asked", actor=clerk)
    dispute(client, "du_P", 10000)
    ok = {**fake_stripe.refunds[Refund.objects.get().gateway_refund_id], "status": "succeeded"}
    deliver(client, event("refund.updated", ok))
    deliver(client, event("charge.refunded", charge_object(payment_intent=PI, amount=10000, refunds=[ok])))
    dispute(client, "du_P", 10000, status=outcome, kind="charge.dispute.closed")
    deliver(client, event("refund.updated", ok))
    dispute(client, "du_P", 10000, status=outcome, kind="charge.dispute.closed")
    refund.refresh_from_db()
    no_errors()
    assert ledger_mismatches() == []
    assert balance(credited) == Money(final, "USD")
    assert net_on_receipt(client, credited) == f"{final} USD"


@pytest.mark.parametrize("order", ["refund_first", "dispute_first"])
@pytest.mark.parametrize("outcome, final", [("won", "70.00"), ("lost", "0.00")])
def test_hold_policy_refund_and_dispute(client, credited, settings, order, outcome, final):
    settings.DISPUTE_POLICY = "hold"
    steps = [lambda: dashboard_refund(client, 3000), lambda: dispute(client, "du_H", 10000)]
    for step in steps if order == "refund_first" else steps[::-1]:
        step()
    dispute(client, "du_H", 10000, status=outcome, kind="charge.dispute.closed")
    dispute(client, "du_H", 10000, status=outcome, kind="charge.dispute.closed")
    no_errors()
    assert ledger_mismatches() == []
    assert balance(credited) == Money(final, "USD")
    assert net_on_receipt(client, credited) == f"{final} USD"


def test_the_won_dispute_email_says_what_came_back(client, credited):
    dispute(client, "du_E", 10000)
    dashboard_refund(client, 3000)
    dispute(client, "du_E", 10000, status="won", kind="charge.dispute.closed")
    won = OutboundEmail.objects.get(dedupe_key__endswith=":won")
    assert "70.00 USD returned" in won.subject
    assert "Returned to balance: 70.00 USD" in " ".join(won.body.split())
