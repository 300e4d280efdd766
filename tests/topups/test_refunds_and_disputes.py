"""Refunds and disputes of credited top-ups, with Stripe's documented payloads signed with its
real scheme; every event delivered twice and out of order; exact balances afterwards."""

import re
import threading
from decimal import Decimal

import pytest
from django.db import connection
from djmoney.money import Money

from accounts.ledger import post_ledger_entry
from accounts.models import Account, LedgerEntry, OutboundEmail
from accounts.verification import ledger_mismatches
from money.errors import Invalid
from tests.factories import PendingTopUpFactory
from tests.fakes.stripe import (
    charge_object,
    dispute_object,
    event,
    paid_session,
    post_webhook,
    refund_object,
    signed,
)
from tests.helpers import staff_login
from tests.intake import apply_stored, delivered
from topups.exceptions import RefundRefused
from topups.models import Dispute, Refund, TopUp, WebhookDelivery
from topups.refunds import request_refund

pytestmark = pytest.mark.django_db
PI = "pi_3QtestRefunds0000000001"


def deliver(client, payload):
    """Stripe posts the event; the worker applies what is stored; what was made of it."""
    body, signature = signed(payload)
    return delivered(post_webhook(client, body, signature))


@pytest.fixture
def credited(client, stripe_settings):
    """A 100.00 USD top-up credited by Stripe's checkout.session.completed, its payment intent kept."""
    topup = PendingTopUpFactory(amount=Money("100.00", "USD"))
    topup.created_by.email = "alice@example.com"
    topup.created_by.save()
    assert deliver(client, event("checkout.session.completed", paid_session(topup, payment_intent=PI))) == "credited"
    topup.refresh_from_db()
    assert topup.payment_intent_id == PI
    return topup


def balance(topup) -> Money:
    topup.account.refresh_from_db()
    return topup.account.balance


def test_finance_refunds_part_of_a_top_up_once_whichever_confirmation_arrives_first(
    client, credited, clerk, fake_stripe
):
    fake_stripe.refund_status = "pending"  # Stripe answers "pending"; the webhooks confirm
    refund = request_refund(topup_id=credited.pk, amount=Money("30.00", "USD"), reason="Asked by phone", actor=clerk)
    assert refund.status == Refund.Status.PENDING
    assert balance(credited) == Money("100.00", "USD")  # nothing debited before the gateway confirms
    sent = fake_stripe.refund_requests[0]
    assert sent["headers"]["Idempotency-Key"] == f"refund:{refund.public_id}"
    assert sent["form"]["amount"] == "3000" and sent["form"]["payment_intent"] == PI
    stripe_refund = fake_stripe.refunds[refund.gateway_refund_id]
    succeeded = {**stripe_refund, "status": "succeeded"}
    listed = charge_object(payment_intent=PI, amount=10000, refunds=[succeeded])
    updated = event("refund.updated", succeeded)
    charged = event("charge.refunded", listed)
    assert deliver(client, charged) == "refunded"
    assert deliver(client, updated) == "already_applied"
    assert deliver(client, charged) == "refunded"  # the same delivery again: its first verdict
    assert deliver(client, event("refund.updated", {**stripe_refund, "status": "pending"})) == "already_applied"
    refund.refresh_from_db()
    assert refund.status == Refund.Status.SUCCEEDED
    assert balance(credited) == Money("70.00", "USD")
    assert LedgerEntry.objects.filter(kind="refund").count() == 1
    assert OutboundEmail.objects.filter(dedupe_key=f"refund:{refund.public_id}").count() == 1
    assert ledger_mismatches() == []


def test_a_refund_the_gateway_answers_as_succeeded_is_debited_at_once(credited, clerk, fake_stripe):
    refund = request_refund(topup_id=credited.pk, amount=Money("100.00", "USD"), reason="", actor=clerk)
    assert refund.status == Refund.Status.SUCCEEDED
    assert refund.debit_amount == Money("100.00", "USD")
    assert balance(credited) == Money("0.00", "USD")
    with pytest.raises(RefundRefused, match="can still be refunded"):
        request_refund(topup_id=credited.pk, amount=Money("0.01", "USD"), reason="", actor=clerk)


def test_a_refund_beyond_the_balance_needs_the_override_and_a_reason(credited, clerk, fake_stripe):
    post_ledger_entry(account_id=credited.account_id, amount=Money("-90.00", "USD"), kind="usage", source_ref="u1")
    with pytest.raises(RefundRefused, match="tick the override"):
        request_refund(topup_id=credited.pk, amount=Money("50.00", "USD"), reason="", actor=clerk)
    with pytest.raises(Invalid, match="reason"):
        request_refund(topup_id=credited.pk, amount=Money("50.00", "USD"), reason=" ", override=True, actor=clerk)
    assert not Refund.objects.exists() and not fake_stripe.refund_requests
    refund = request_refund(
        topup_id=credited.pk, amount=Money("50.00", "USD"), reason="Fraud on the card", override=True, actor=clerk
    )
    assert refund.balance_override
    assert balance(credited) == Money("-40.00", "USD")


def test_only_finance_may_refund(credited, fake_stripe):
    customer = credited.created_by
    with pytest.raises(RefundRefused):
        request_refund(topup_id=credited.pk, amount=Money("1.00", "USD"), reason="", actor=customer)
    assert not Refund.objects.exists()


def test_a_refund_made_in_the_stripe_dashboard_is_applied_once_and_flagged(client, credited):
    dashboard = refund_object(payment_intent=PI, amount=2500)
    for payload in (
        event("refund.created", dashboard),
        event("charge.refunded", charge_object(payment_intent=PI, amount=10000, refunds=[dashboard])),
        event("refund.created", dashboard),
    ):
        deliver(client, payload)
    refund = Refund.objects.get()
    assert refund.origin == Refund.Origin.GATEWAY
    assert refund.needs_review
    assert refund.gateway_refund_id == dashboard["id"]
    assert balance(credited) == Money("75.00", "USD")
    assert ledger_mismatches() == []


def test_a_refund_of_someone_elses_payment_moves_nothing(client, credited):
    stranger = refund_object(payment_intent="pi_not_ours", amount=2500)
    assert deliver(client, event("refund.created", stranger)) == "ignored"
    assert not Refund.objects.exists()
    assert balance(credited) == Money("100.00", "USD")


def test_an_event_of_another_api_version_is_refused_and_moves_nothing(client, credited):
    payload = event("refund.created", refund_object(payment_intent=PI, amount=2500))
    payload["api_version"] = "2020-08-27"
    body, signature = signed(payload)
    response = post_webhook(client, body, signature)
    assert response.status_code == 400
    assert b"API version" in response.content
    assert balance(credited) == Money("100.00", "USD")


@pytest.mark.parametrize(
    "order",
    [
        ("created", "closed"),
        ("closed", "created"),
        ("created", "created", "updated", "closed", "closed"),
        ("closed", "updated", "created"),
    ],
)
@pytest.mark.parametrize("outcome, final", [("won", "100.00"), ("lost", "0.00")])
def test_a_dispute_debits_once_and_a_won_one_returns_the_money_in_any_order(client, credited, order, outcome, final):
    dispute_id = "du_1QtestDispute0000001"
    payloads = {
        "created": event("charge.dispute.created", dispute_object(payment_intent=PI, amount=10000, id=dispute_id)),
        "updated": event(
            "charge.dispute.updated",
            dispute_object(payment_intent=PI, amount=10000, id=dispute_id, status="under_review"),
        ),
        "closed": event(
            "charge.dispute.closed", dispute_object(payment_intent=PI, amount=10000, id=dispute_id, status=outcome)
        ),
    }
    for name in order:
        deliver(client, payloads[name])
    dispute = Dispute.objects.get()
    assert dispute.status == outcome
    assert balance(credited) == Money(final, "USD")
    assert LedgerEntry.objects.filter(kind="dispute").count() == 1
    assert LedgerEntry.objects.filter(kind="dispute_won").count() == (1 if outcome == "won" else 0)
    credited.refresh_from_db()
    assert credited.needs_review
    account = Account.objects.get(pk=credited.account_id)
    assert account.needs_review
    assert account.review_note.count("disputed") == 1  # flagged once, however many events
    assert ledger_mismatches() == []


def test_a_converted_top_up_is_refunded_at_the_rate_it_locked(client, stripe_settings, clerk, fake_stripe):
    topup = PendingTopUpFactory(
        amount=Money("710.00", "CNY"), credit_amount=Money("100.00", "USD"), exchange_rate=Decimal("7.1")
    )
    session = fake_stripe.add_session(paid_session(topup, payment_intent=PI))
    deliver(client, event("checkout.session.completed", session))
    staff_login(client, clerk)  # finance's page says what the balance gives, in its currency (found by a helper)
    page = client.post("/admin/topups/topup/", {"action": "refund", "_selected_action": [topup.pk]}).content.decode()
    assert "Refunding 710.00 CNY takes <strong>100.00 USD</strong> from the balance" in page
    assert "(1 USD = 7.1000 CNY)" in page
    first = request_refund(topup_id=topup.pk, amount=Money("100.00", "CNY"), reason="", actor=clerk)
    assert first.debit_amount == Money("14.08", "USD")  # 100 / 7.1 = 14.0845…, rounded to cents
    # 0.03 CNY is 0.0042 USD, 0.00 in cents: refused before the gateway is asked (it had paid it back, then the
    # ledger refused to debit nothing and the refund stayed "requested" for ever; found by a helper).
    with pytest.raises(Invalid, match="0.03 CNY is less than 0.01 USD of the credit at the rate"):
        request_refund(topup_id=topup.pk, amount=Money("0.03", "CNY"), reason="", actor=clerk)
    assert len(fake_stripe.refund_requests) == 1 and Refund.objects.count() == 1
    rest = request_refund(topup_id=topup.pk, amount=Money("610.00", "CNY"), reason="", actor=clerk)
    assert rest.debit_amount == Money("85.92", "USD")  # what is left of the credit, exactly
    assert balance(topup) == Money("0.00", "USD")


def refund_form(client, topup) -> dict:
    """What finance's refund confirmation sends, with the one-time key the page was rendered with."""
    page = client.post("/admin/topups/topup/", {"action": "refund", "_selected_action": [topup.pk]})
    assert page.status_code == 200 and b"Can still be refunded" in page.content
    [key] = re.findall(r'name="request_key" value="([0-9a-f]{32})"', page.content.decode())
    return {"action": "refund", "_selected_action": [topup.pk], "post": "yes", "request_key": key}


def test_finance_refunds_from_admin_with_a_confirm_page(client, credited, clerk, fake_stripe):
    staff_login(client, clerk)
    url = "/admin/topups/topup/"
    form = refund_form(client, credited)
    refused = client.post(url, {**form, "amount": "100.01", "reason": "x"})
    assert refused.status_code == 400 and b"can still be refunded" in refused.content
    done = client.post(url, {**form, "amount": "40.00", "reason": "x"})
    assert done.status_code == 302
    assert balance(credited) == Money("60.00", "USD")
    assert "Refund" in client.get(f"/admin/topups/topup/{credited.pk}/change/").content.decode()


def test_the_customer_sees_the_refund_on_the_top_up_receipt_and_records(client, credited, clerk, fake_stripe):
    request_refund(topup_id=credited.pk, amount=Money("25.00", "USD"), reason="", actor=clerk)
    client.force_login(credited.created_by)
    detail = client.get(f"/billing/topups/{credited.public_id}/").content.decode()
    assert "Refunds and disputes" in detail and "25.00 USD" in detail
    receipt = client.get(f"/billing/topups/{credited.public_id}/receipt/").content.decode()
    assert "Refunded" in receipt
    records = client.get("/billing/topups/").content.decode()
    assert "partly refunded" in records
    statement = client.get("/billing/statement/").content.decode()
    assert "Refund" in statement and "-25.00" in statement.replace("−", "-")
    assert WebhookDelivery.objects.count() == 1 and TopUp.objects.get().status == TopUp.Status.CREDITED


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_racing_deliveries_of_one_dashboard_refund_and_one_dispute_debit_once(stripe_settings):
    """Ten threads deliver refund.created, charge.refunded and the dispute events at once."""
    import threading

    from django.db import connection
    from django.test import Client

    topup = PendingTopUpFactory(amount=Money("100.00", "USD"))
    assert deliver(Client(), event("checkout.session.completed", paid_session(topup, payment_intent=PI))) == "credited"
    dashboard = refund_object(payment_intent=PI, amount=4000)
    dispute = dispute_object(payment_intent=PI, amount=6000, id="du_race")
    payloads = [
        event("refund.created", dashboard),
        event("charge.refunded", charge_object(payment_intent=PI, amount=10000, refunds=[dashboard])),
        event("charge.dispute.created", dispute),
        event("charge.dispute.closed", {**dispute, "status": "lost"}),
    ]
    barrier, statuses = threading.Barrier(10), []

    def send(n: int):
        try:
            body, signature = signed(payloads[n % len(payloads)])
            barrier.wait()
            statuses.append(post_webhook(Client(), body, signature).status_code)
            apply_stored()  # ten workers racing over what is stored
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(n,)) for n in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert set(statuses) == {200}
    for payload in payloads:  # Stripe's retries
        deliver(Client(), payload)
    assert LedgerEntry.objects.filter(kind="refund").count() == 1
    assert LedgerEntry.objects.filter(kind="dispute").count() == 1
    assert balance(topup) == Money("0.00", "USD")  # 100 − 40 refunded − 60 disputed (lost)
    assert ledger_mismatches() == []


def test_a_failure_while_applying_a_refund_debits_nothing_and_keeps_the_delivery(client, credited):
    """dj-stripe's third case: the handler fails, nothing is written, the delivery keeps its error."""
    from accounts.models import Account

    payload = event("refund.created", refund_object(payment_intent=PI, amount=2500))
    Account.objects.filter(pk=credited.account_id).update(balance_currency="EUR")  # the ledger refuses
    body, signature = signed(payload)
    response = post_webhook(client, body, signature)
    assert response.status_code == 200  # stored: the failure is the worker's, kept on the delivery
    apply_stored()
    delivery = WebhookDelivery.objects.get(event_id=payload["id"])
    assert delivery.verdict == "error" and "EUR" in delivery.error
    assert not Refund.objects.exists()
    Account.objects.filter(pk=credited.account_id).update(balance_currency="USD")
    assert deliver(client, payload) == "refunded"
    assert balance(credited) == Money("75.00", "USD")


@pytest.mark.parametrize(
    "amount, message",
    [
        ("1e3", "digits"),
        ("-5", "positive"),
        ("0", "greater than zero"),
        ("１０", "digits"),
        ("10.001", "decimals"),
        ("100.01", "can still be refunded"),
        ("", "required"),
    ],
)
def test_the_admin_refund_form_refuses_hostile_amounts_and_moves_nothing(client, credited, clerk, amount, message):
    staff_login(client, clerk)
    response = client.post(
        "/admin/topups/topup/", {**refund_form(client, credited), "amount": amount, "reason": "Asked"}
    )
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Refund.objects.exists()
    assert balance(credited) == Money("100.00", "USD")


def test_a_customer_cannot_see_another_customers_refunds(client, credited, clerk, fake_stripe):
    from tests.factories import UserFactory

    request_refund(topup_id=credited.pk, amount=Money("5.00", "USD"), reason="", actor=clerk)
    client.force_login(UserFactory())
    assert client.get(f"/billing/topups/{credited.public_id}/").status_code == 404
    assert client.get(f"/billing/topups/{credited.public_id}/receipt/").status_code == 404
    assert (
        client.post("/admin/topups/topup/", {"action": "refund", "_selected_action": [credited.pk]}).status_code == 302
    )


@pytest.mark.parametrize("order", [("created", "closed"), ("closed", "created", "closed")])
@pytest.mark.parametrize("outcome, final", [("won", "100.00"), ("lost", "0.00")])
def test_with_the_hold_policy_a_dispute_debits_only_when_lost(client, credited, settings, order, outcome, final):
    settings.DISPUTE_POLICY = "hold"
    opened = dispute_object(payment_intent=PI, amount=10000, id="du_hold")
    payloads = {
        "created": event("charge.dispute.created", opened),
        "closed": event("charge.dispute.closed", {**opened, "status": outcome}),
    }
    deliver(client, payloads[order[0]])
    if order[0] == "created":
        assert balance(credited) == Money("100.00", "USD")  # held: flagged, not debited
        assert Account.objects.get(pk=credited.account_id).needs_review
    for name in order[1:]:
        deliver(client, payloads[name])
    assert balance(credited) == Money(final, "USD")
    assert LedgerEntry.objects.filter(kind="dispute").count() == (1 if outcome == "lost" else 0)
    assert not LedgerEntry.objects.filter(kind="dispute_won").exists()
    assert ledger_mismatches() == []


def test_an_override_ticked_when_the_balance_suffices_needs_no_reason(credited, clerk, fake_stripe):
    refund = request_refund(topup_id=credited.pk, amount=Money("10.00", "USD"), reason="", override=True, actor=clerk)
    assert refund.status == Refund.Status.SUCCEEDED and not refund.balance_override


def test_the_refund_action_on_a_top_up_that_was_never_credited_is_refused_at_once(client, clerk, stripe_settings):
    topup = PendingTopUpFactory()
    staff_login(client, clerk)
    response = client.post("/admin/topups/topup/", {"action": "refund", "_selected_action": [topup.pk]}, follow=True)
    assert "nothing to refund" in response.content.decode()
    assert not Refund.objects.exists()


def test_refunds_and_disputes_are_told_to_the_webhook_endpoints_once(client, credited, clerk, fake_stripe):
    from accounts.models import User, WebhookEvent
    from accounts.outbound_webhooks.endpoints import register_endpoint

    operator = User.objects.create_superuser("operator", "ops@example.com", "x-secret-pass-1")
    register_endpoint(
        account=None,
        url="https://93.184.216.34/all",
        event_types=["refund.created", "dispute.updated"],
        actor=operator,
    )
    request_refund(topup_id=credited.pk, amount=Money("30.00", "USD"), reason="Asked by phone", actor=clerk)
    opened = event("charge.dispute.created", dispute_object(payment_intent=PI, amount=5000, id="du_hook"))
    deliver(client, opened)
    deliver(client, opened)  # the same news again: no second event

    refund, dispute = WebhookEvent.objects.get(type="refund.created"), WebhookEvent.objects.get(type="dispute.updated")
    assert refund.account_id == dispute.account_id == credited.account_id
    assert refund.payload["data"]["amount"] == {"amount": "30.00", "currency": "USD"}
    assert dispute.payload["data"]["status"] == "open" and dispute.payload["data"]["balance_debited"]
    assert dispute.payload["data"]["dispute_id"] == "du_hook"


@pytest.mark.parametrize("reason", ["", "   \n  "])
def test_finance_says_why_a_refund_goes_back_or_nothing_moves(client, credited, clerk, fake_stripe, reason):
    staff_login(client, clerk)
    response = client.post(
        "/admin/topups/topup/", {**refund_form(client, credited), "amount": "40.00", "reason": reason}
    )
    assert response.status_code == 400
    assert "Say why the money goes back: it stays on the refund&#x27;s record." in response.content.decode()
    assert not Refund.objects.exists() and balance(credited) == Money("100.00", "USD")


def test_a_refund_not_yet_completed_counts_against_the_balance_the_next_one_is_checked_against(
    credited, clerk, fake_stripe
):
    """Stripe answers a refund "pending" and debits nothing until it succeeds: a second refund checked against
    the balance alone had passed without the override, and both together took the account below zero (found by
    a helper, with two clerks refunding at once)."""
    fake_stripe.refund_status = "pending"
    first = request_refund(topup_id=credited.pk, amount=Money("60.00", "USD"), reason="", actor=clerk)
    assert first.status == Refund.Status.PENDING and balance(credited) == Money("100.00", "USD")
    post_ledger_entry(account_id=credited.account_id, amount=Money("-50.00", "USD"), kind="usage", source_ref="u2")
    with pytest.raises(RefundRefused, match="of which 60.00 USD is promised to refunds not completed yet"):
        request_refund(topup_id=credited.pk, amount=Money("40.00", "USD"), reason="", actor=clerk)
    second = request_refund(
        topup_id=credited.pk, amount=Money("40.00", "USD"), reason="Card stolen", override=True, actor=clerk
    )
    assert second.balance_override and Refund.objects.count() == 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_clerks_refunding_an_accounts_top_ups_at_once_are_checked_one_after_the_other(
    stripe_settings, clerk, fake_stripe
):
    """Two refunds of 60.00 from a balance of 100.00, at once: one passes, the other needs the override."""
    import threading

    from django.db import connection
    from django.test import Client

    first = PendingTopUpFactory(amount=Money("100.00", "USD"))
    second = PendingTopUpFactory(amount=Money("100.00", "USD"), account=first.account, created_by=first.created_by)
    for topup, intent in ((first, PI), (second, PI[:-1] + "2")):
        paid = paid_session(topup, payment_intent=intent)
        assert deliver(Client(), event("checkout.session.completed", paid)) == "credited"
    post_ledger_entry(account_id=first.account_id, amount=Money("-100.00", "USD"), kind="usage", source_ref="u3")
    barrier, outcomes = threading.Barrier(2), []

    def refund(topup):
        try:
            barrier.wait()
            request_refund(topup_id=topup.pk, amount=Money("60.00", "USD"), reason="", actor=clerk)
            outcomes.append("refunded")
        except RefundRefused:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=refund, args=(topup,)) for topup in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["refunded", "refused"]
    assert balance(first) == Money("40.00", "USD")


def test_a_disputed_payment_is_not_refunded_until_the_dispute_is_won(client, credited, clerk, fake_stripe):
    """The bank took the money back when the dispute opened; a refund too had taken it from the balance a second
    time (found by a helper). Stripe refuses to refund a disputed charge; we say why before asking it."""
    opened = dispute_object(payment_intent=PI, amount=10000, id="du_refund")
    deliver(client, event("charge.dispute.created", opened))
    assert balance(credited) == Money("0.00", "USD")
    with pytest.raises(RefundRefused, match=rf"{credited.reference} is disputed \(du_refund, Open\)"):
        request_refund(topup_id=credited.pk, amount=Money("10.00", "USD"), reason="", actor=clerk)
    staff_login(client, clerk)
    page = client.post(
        "/admin/topups/topup/", {"action": "refund", "_selected_action": [credited.pk]}, follow=True
    ).content.decode()
    assert "is disputed (du_refund, Open)" in page and "Can still be refunded" not in page
    assert not Refund.objects.exists() and not fake_stripe.refund_requests
    deliver(client, event("charge.dispute.closed", {**opened, "status": "won"}))
    assert request_refund(topup_id=credited.pk, amount=Money("10.00", "USD"), reason="", actor=clerk).amount == Money(
        "10.00", "USD"
    )


def test_a_dispute_of_a_payment_refunded_whole_is_recorded_and_flagged_with_nothing_to_debit(
    client, credited, clerk, fake_stripe
):
    """A debit of nought had been refused, and the delivery retried every minute for ever (found by a helper)."""
    request_refund(topup_id=credited.pk, amount=Money("100.00", "USD"), reason="", actor=clerk)
    assert balance(credited) == Money("0.00", "USD")
    verdict = deliver(client, event("charge.dispute.created", dispute_object(payment_intent=PI, amount=10000)))
    assert verdict == "disputed"
    dispute = Dispute.objects.get()
    assert dispute.debit_amount == Money("0.00", "USD") and dispute.debit_entry_id is None
    assert balance(credited) == Money("0.00", "USD") and not LedgerEntry.objects.filter(kind="dispute").exists()
    assert Account.objects.get(pk=credited.account_id).needs_review
    assert ledger_mismatches() == []


def dispute_emails(topup) -> list[OutboundEmail]:
    return list(OutboundEmail.objects.filter(dedupe_key__startswith="dispute:").order_by("pk"))


def test_the_payer_is_told_once_when_a_dispute_takes_money_and_once_when_it_is_won(client, credited):
    """The balance had dropped by a chargeback without a word to the customer; the top-up's page had shown the
    amount as taken even while a dispute was only held."""
    opened = dispute_object(payment_intent=PI, amount=4000, id="du_mail", reason="fraudulent")
    for payload in [event("charge.dispute.created", opened)] * 2:
        deliver(client, payload)
    [taken] = dispute_emails(credited)
    assert taken.to == "alice@example.com"
    assert taken.subject == f"Payment {credited.reference} disputed: 40.00 USD taken from your balance"
    assert "Taken from balance: 40.00 USD" in taken.body and "Balance after:      60.00 USD" in taken.body
    assert f"/billing/topups/{credited.public_id}/" in taken.body

    for payload in [event("charge.dispute.closed", {**opened, "status": "won"})] * 2:
        deliver(client, payload)
    taken_again, returned = dispute_emails(credited)
    assert taken_again == taken
    assert returned.subject == f"Dispute of {credited.reference} won: 40.00 USD returned to your balance"
    assert "Returned to balance: 40.00 USD" in returned.body and "Balance after:      100.00 USD" in returned.body


def test_a_lost_dispute_says_nothing_more_and_a_held_one_speaks_only_when_the_money_is_taken(
    client, credited, settings
):
    settings.DISPUTE_POLICY = "hold"
    opened = dispute_object(payment_intent=PI, amount=10000, id="du_held")
    deliver(client, event("charge.dispute.created", opened))
    assert dispute_emails(credited) == []  # nothing moved
    client.force_login(credited.created_by)
    page = client.get(f"/billing/topups/{credited.public_id}/").content.decode()
    assert "−100.00" not in page and "Dispute open" in page

    deliver(client, event("charge.dispute.closed", {**opened, "status": "lost"}))
    [taken] = dispute_emails(credited)
    assert "100.00 USD taken from your balance" in taken.subject
    page = client.get(f"/billing/topups/{credited.public_id}/").content.decode()
    assert "−100.00 USD" in page and "Dispute lost" in page


def test_the_dispute_email_speaks_the_payers_language(client, credited):
    credited.created_by.language = "zh-hans"
    credited.created_by.save()
    deliver(client, event("charge.dispute.created", dispute_object(payment_intent=PI, amount=2500, id="du_zh")))
    [taken] = dispute_emails(credited)
    assert "从余额扣除" in taken.subject + taken.body
    assert "Taken from balance" not in taken.body and "disputed" not in taken.subject


def test_a_double_click_on_the_refund_confirmation_refunds_once(client, credited, clerk, fake_stripe):
    """Two posts of one confirmation had made two refunds, each sent to Stripe under its own key: 60.00 went back
    for a refund of 30.00 (found by a helper)."""
    staff_login(client, clerk)
    form = {**refund_form(client, credited), "amount": "30.00", "reason": "Asked by phone"}
    assert client.post("/admin/topups/topup/", form).status_code == 302
    assert client.post("/admin/topups/topup/", form).status_code == 302  # the second click finds the first refund
    refund = Refund.objects.get()
    assert refund.status == Refund.Status.SUCCEEDED and balance(credited) == Money("70.00", "USD")
    assert len(fake_stripe.refund_requests) == 1
    another_amount = client.post("/admin/topups/topup/", {**form, "amount": "31.00"})
    assert (
        another_amount.status_code == 400
        and "This form was already sent for 30.00 USD" in another_amount.content.decode()
    )
    outdated = client.post("/admin/topups/topup/", {**form, "request_key": ""})
    assert outdated.status_code == 400 and "This form is out of date" in outdated.content.decode()
    assert Refund.objects.count() == 1 and ledger_mismatches() == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_clicks_raced_on_postgresql_refund_once(credited, clerk, fake_stripe):
    start, errors = threading.Barrier(2), []

    def click():
        try:
            start.wait()
            request_refund(
                topup_id=credited.pk, amount=Money("30.00", "USD"), reason="Asked", actor=clerk, request_key="k" * 32
            )
        except Exception as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=click) for _ in range(2)]
    [thread.start() for thread in threads]
    [thread.join() for thread in threads]
    assert errors == [] and Refund.objects.count() == 1
    assert balance(credited) == Money("70.00", "USD") and ledger_mismatches() == []


def test_a_refund_the_gateway_never_answered_is_sent_again_not_left_blocking(client, credited, clerk, fake_stripe):
    """Stripe away: the refund stayed "requested" for ever, and a new one was refused ("At most 0.00 USD can still
    be refunded"). The same form sent again, or the refunds list's action, asks again under the same key."""
    staff_login(client, clerk)
    form = {**refund_form(client, credited), "amount": "100.00", "reason": "Duplicate payment"}
    fake_stripe.down = True
    away = client.post("/admin/topups/topup/", form)
    assert away.status_code == 400 and Refund.objects.get().status == Refund.Status.REQUESTED
    fake_stripe.down = False
    assert client.post("/admin/topups/topup/", form).status_code == 302  # the same form again: the same refund
    assert Refund.objects.get().status == Refund.Status.SUCCEEDED and balance(credited) == Money("0.00", "USD")

    second = PendingTopUpFactory(account=credited.account, created_by=credited.created_by)
    deliver(client, event("checkout.session.completed", paid_session(second, payment_intent="pi_3QtestSecond0000001")))
    second.refresh_from_db()
    fake_stripe.down = True
    with pytest.raises(Exception, match="Stripe"):
        request_refund(topup_id=second.pk, amount=second.amount, reason="Asked", actor=clerk)
    fake_stripe.down = False
    stuck = Refund.objects.get(topup=second)
    answer = client.post("/admin/topups/refund/", {"action": "send_again", "_selected_action": [stuck.pk]}, follow=True)
    assert f"{stuck.reference}: Refunded" in answer.content.decode()
    stuck.refresh_from_db()
    assert stuck.status == Refund.Status.SUCCEEDED and len(fake_stripe.refund_requests) == 2
    assert ledger_mismatches() == []


def test_an_inquiry_takes_no_money_and_closing_it_leaves_the_payment_refundable(client, credited, clerk, fake_stripe):
    """Stripe's inquiries (warning_needs_response … warning_closed) move no money, but the balance had been debited
    as for a chargeback and never given back, and the payment could never be refunded (found by a helper)."""
    inquiry = dispute_object(payment_intent=PI, amount=10000, id="du_inquiry", status="warning_needs_response")
    for payload in [event("charge.dispute.created", inquiry), event("charge.dispute.updated", inquiry)]:
        deliver(client, payload)
    dispute = Dispute.objects.get()
    assert dispute.status == Dispute.Status.INQUIRY and dispute.debit_entry_id is None
    assert balance(credited) == Money("100.00", "USD") and dispute_emails(credited) == []
    assert Account.objects.get(pk=credited.account_id).needs_review  # finance answers the issuer
    client.force_login(credited.created_by)
    page = client.get(f"/billing/topups/{credited.public_id}/").content.decode()
    assert "Dispute inquiry, no money taken" in page and "−100.00" not in page

    deliver(client, event("charge.dispute.closed", {**inquiry, "status": "warning_closed"}))
    deliver(client, event("charge.dispute.updated", inquiry))  # late: the status only moves forward
    dispute.refresh_from_db()
    assert dispute.status == Dispute.Status.CLOSED and not LedgerEntry.objects.filter(kind="dispute").exists()
    refund = request_refund(topup_id=credited.pk, amount=Money("100.00", "USD"), reason="Asked", actor=clerk)
    assert refund.status == Refund.Status.SUCCEEDED and balance(credited) == Money("0.00", "USD")


def test_an_inquiry_that_becomes_a_chargeback_is_debited_then_and_returned_if_won(client, credited):
    inquiry = dispute_object(payment_intent=PI, amount=6000, id="du_escalated", status="warning_under_review")
    deliver(client, event("charge.dispute.created", inquiry))
    assert balance(credited) == Money("100.00", "USD")
    deliver(client, event("charge.dispute.updated", {**inquiry, "status": "needs_response"}))
    assert Dispute.objects.get().status == Dispute.Status.OPEN and balance(credited) == Money("40.00", "USD")
    client.force_login(credited.created_by)
    receipt = client.get(f"/billing/topups/{credited.public_id}/receipt/").content.decode()
    assert "60.00 USD taken back by the card&#x27;s bank (du_escalated; −60.00 USD from the balance)" in receipt
    assert "<dt>Net credited</dt><dd>40.00 USD</dd>" in receipt and "Unpaid again" not in receipt
    deliver(client, event("charge.dispute.closed", {**inquiry, "status": "won"}))
    deliver(client, event("charge.dispute.updated", inquiry))
    assert Dispute.objects.get().status == Dispute.Status.WON and balance(credited) == Money("100.00", "USD")
    assert LedgerEntry.objects.filter(kind__in=("dispute", "dispute_won")).count() == 2
    assert ledger_mismatches() == []
    receipt = client.get(f"/billing/topups/{credited.public_id}/receipt/").content.decode()
    assert "Dispute won: 60.00 USD back on the balance." in receipt and "Settles again" not in receipt
    assert "<dt>Net credited</dt><dd>100.00 USD</dd>" in receipt


def test_a_chargeback_while_a_refund_is_pending_takes_what_the_bank_took_when_the_refund_then_fails(
    client, credited, clerk, fake_stripe
):
    """The pending 30.00 had lowered the dispute's debit to 70.00; Stripe then refused the refund (the charge was
    disputed), and the customer kept 30.00 the bank had taken back (found by a helper)."""
    fake_stripe.refund_status = "pending"
    refund = request_refund(topup_id=credited.pk, amount=Money("30.00", "USD"), reason="Asked", actor=clerk)
    deliver(client, event("charge.dispute.created", dispute_object(payment_intent=PI, amount=10000, id="du_pend")))
    assert Dispute.objects.get().debit_amount == Money("100.00", "USD")
    failed = {**fake_stripe.refunds[Refund.objects.get().gateway_refund_id], "status": "failed"}
    deliver(client, event("refund.updated", {**failed, "failure_reason": "charge_disputed"}))
    refund.refresh_from_db()
    assert refund.status == Refund.Status.FAILED and balance(credited) == Money("0.00", "USD")
    assert ledger_mismatches() == []


def test_a_second_dispute_of_one_payment_takes_only_what_the_first_left(client, credited):
    deliver(client, event("charge.dispute.created", dispute_object(payment_intent=PI, amount=10000, id="du_one")))
    deliver(client, event("charge.dispute.created", dispute_object(payment_intent=PI, amount=10000, id="du_two")))
    assert balance(credited) == Money("0.00", "USD")  # not −100.00: a payment of 100.00 is taken back once
    assert sorted(d.debit_amount.amount for d in Dispute.objects.all()) == [0, 100]


def test_a_refund_made_during_an_inquiry_is_not_taken_again_when_it_becomes_a_chargeback(
    client, credited, clerk, fake_stripe
):
    inquiry = dispute_object(payment_intent=PI, amount=10000, id="du_late", status="warning_needs_response")
    deliver(client, event("charge.dispute.created", inquiry))
    request_refund(topup_id=credited.pk, amount=Money("100.00", "USD"), reason="Asked", actor=clerk)
    deliver(client, event("charge.dispute.updated", {**inquiry, "status": "needs_response"}))
    assert balance(credited) == Money("0.00", "USD")  # not −100.00 (found by a helper)
    assert not LedgerEntry.objects.filter(kind="dispute").exists() and ledger_mismatches() == []


@pytest.mark.parametrize("status", ["prevented", "charge_refunded", "some_future_status"])
def test_a_dispute_stripe_closes_without_a_chargeback_or_names_oddly_takes_no_money(client, credited, status):
    deliver(client, event("charge.dispute.closed", dispute_object(payment_intent=PI, amount=10000, status=status)))
    assert balance(credited) == Money("100.00", "USD")
    assert Account.objects.get(pk=credited.account_id).needs_review  # finance looks at it


def test_money_promised_to_a_pending_refund_is_not_allocated_to_members(client, credited, clerk, fake_stripe):
    """The refund was checked against the balance; until the gateway says it succeeded, that part of the balance is
    promised. An enterprise master allocating it to a member had ended below zero once the refund went through,
    the member spending the refunded money (found by a helper)."""
    from accounts.enterprise import allocate
    from accounts.exceptions import InsufficientFunds
    from tests.factories import EnterpriseMemberAccountFactory

    master, dave = credited.account, credited.created_by
    member = EnterpriseMemberAccountFactory(name="Carol", enterprise_master=master)
    fake_stripe.refund_status = "pending"
    request_refund(topup_id=credited.pk, amount=Money("60.00", "USD"), reason="Customer asked", actor=clerk)

    with pytest.raises(InsufficientFunds, match="60.00 USD of its balance is promised to refunds"):
        allocate(
            master_id=master.pk, member_id=member.pk, amount=Money("50.00", "USD"), actor=dave, request_key="form-one"
        )
    allocate(master_id=master.pk, member_id=member.pk, amount=Money("40.00", "USD"), actor=dave, request_key="form-two")

    stripe_refund = fake_stripe.refunds[Refund.objects.get().gateway_refund_id]
    done = charge_object(payment_intent=PI, amount=10000, refunds=[{**stripe_refund, "status": "succeeded"}])
    deliver(client, event("charge.refunded", done))
    assert balance(credited) == Money("0.00", "USD")  # 100.00 in, 40.00 to Carol, 60.00 refunded
    assert ledger_mismatches() == []


@pytest.mark.parametrize("kind", ["postpaid", "enterprise_member"])
def test_an_account_with_a_refund_not_yet_paid_out_keeps_its_type(client, credited, clerk, fake_stripe, kind):
    """At a zero balance the type change had been allowed; the refund, debited once the gateway said so, then left a
    postpaid account owing what no bill asks for, or a member's hole for its master's next allocation to fill (found
    by a helper)."""
    from accounts.exceptions import AccountChangeRefused
    from accounts.lifecycle import change_account_type
    from tests.factories import PrepaidAccountFactory

    account = credited.account
    fake_stripe.refund_status = "pending"
    request_refund(topup_id=credited.pk, amount=Money("60.00", "USD"), reason="Leaving prepaid", actor=clerk)
    post_ledger_entry(account_id=account.pk, amount=Money("-40.00", "USD"), kind="usage", source_ref="charge:c:1")
    assert balance(credited) == Money("60.00", "USD")
    post_ledger_entry(account_id=account.pk, amount=Money("-60.00", "USD"), kind="usage", source_ref="charge:c:2")
    master = PrepaidAccountFactory(name="Dave Corp") if kind == "enterprise_member" else None

    with pytest.raises(AccountChangeRefused, match="has 60.00 USD promised to refunds not paid out yet"):
        change_account_type(account_id=account.pk, kind=kind, enterprise_master_id=master and master.pk)

    stripe_refund = fake_stripe.refunds[Refund.objects.get().gateway_refund_id]
    deliver(client, event("refund.updated", {**stripe_refund, "status": "succeeded"}))
    account.refresh_from_db()
    assert (account.type, account.balance) == ("prepaid", Money("-60.00", "USD"))  # the debt stays the customer's
    assert ledger_mismatches() == []


@pytest.mark.parametrize("first", ["refund", "dispute"])
@pytest.mark.parametrize(
    ("refunded", "outcome", "final"),
    [
        (10000, None, "0.00"),
        (10000, "won", "0.00"),
        (10000, "lost", "0.00"),
        (3000, None, "0.00"),
        (3000, "won", "70.00"),
    ],
)
def test_a_refund_and_a_dispute_of_one_payment_end_alike_in_either_order(
    client, credited, first, refunded, outcome, final
):
    """A payment of 100.00 refunded in the dashboard and disputed by the cardholder: Stripe does not promise the
    order of its events. Dispute first, both had been debited in full, the balance at −100.00 (found by a helper);
    now the refund takes what the chargeback left, and a won dispute returns only what the refunds did not pay back."""
    refund = refund_object(payment_intent=PI, amount=refunded)
    refund_events = [
        event("refund.created", refund),
        event("charge.refunded", charge_object(payment_intent=PI, amount=10000, refunds=[refund])),
    ]
    opened = dispute_object(payment_intent=PI, amount=10000, id="du_order")
    dispute_events = [event("charge.dispute.created", opened)]
    for payload in refund_events + dispute_events if first == "refund" else dispute_events + refund_events:
        deliver(client, payload)
    if outcome:
        deliver(client, event("charge.dispute.closed", {**opened, "status": outcome}))
        deliver(client, event("charge.dispute.closed", {**opened, "status": outcome}))  # and once more

    assert balance(credited) == Money(final, "USD")
    assert ledger_mismatches() == []
    client.force_login(credited.created_by)
    receipt = client.get(f"/billing/topups/{credited.public_id}/receipt/").content.decode()
    assert f"<dt>Net credited</dt><dd>{final} USD</dd>" in receipt
    if first == "dispute":
        assert Refund.objects.get().needs_review  # finance is told the refund took less from the balance


def hold_a_dispute(client, settings, credited, amount=10000, dispute_id="du_held"):
    """DISPUTE_POLICY="hold": the cardholder's bank takes the money back from us, the balance is left alone while the
    dispute is open; the Stripe dispute as it was opened."""
    settings.DISPUTE_POLICY = "hold"
    before = balance(credited)
    opened = dispute_object(payment_intent=PI, amount=amount, id=dispute_id)
    assert deliver(client, event("charge.dispute.created", opened)) == "disputed"
    assert balance(credited) == before
    return opened


@pytest.mark.parametrize("outcome", ["won", "lost"])
@pytest.mark.parametrize("kind", ["postpaid", "enterprise_member"])
def test_an_account_with_a_dispute_held_open_keeps_its_type(client, credited, settings, kind, outcome):
    """A dispute held open had not counted as promised: at a zero balance the account changed type, and the lost
    dispute then debited a postpaid account no bill collects, or a member its master funds (noticed by the last
    session, left alone then)."""
    from accounts.exceptions import AccountChangeRefused
    from accounts.lifecycle import change_account_type
    from tests.factories import PrepaidAccountFactory

    account = credited.account
    opened = hold_a_dispute(client, settings, credited)
    post_ledger_entry(account_id=account.pk, amount=Money("-100.00", "USD"), kind="usage", source_ref="charge:h:1")
    master = PrepaidAccountFactory(name="Dave Corp") if kind == "enterprise_member" else None

    with pytest.raises(AccountChangeRefused, match="has 100.00 USD promised to refunds not paid out yet or held for"):
        change_account_type(account_id=account.pk, kind=kind, enterprise_master_id=master and master.pk)

    deliver(client, event("charge.dispute.closed", {**opened, "status": outcome}))
    account.refresh_from_db()
    if outcome == "lost":  # the debt is the prepaid customer's, on the account it was run up on
        assert (account.type, account.balance) == ("prepaid", Money("-100.00", "USD"))
    else:  # nothing is held any more: the change goes through at zero
        change_account_type(account_id=account.pk, kind=kind, enterprise_master_id=master and master.pk)
        account.refresh_from_db()
        assert (account.type, account.balance) == (kind, Money("0.00", "USD"))
    assert ledger_mismatches() == []


def test_an_inquiry_holds_nothing(client, credited, settings):
    """An inquiry takes no money, under either policy: the account may still change type."""
    from accounts.lifecycle import change_account_type

    settings.DISPUTE_POLICY = "hold"
    inquiry = dispute_object(payment_intent=PI, amount=10000, status="warning_needs_response")
    deliver(client, event("charge.dispute.created", inquiry))
    post_ledger_entry(account_id=credited.account_id, amount=Money("-100.00", "USD"), kind="usage", source_ref="c:i")
    change_account_type(account_id=credited.account_id, kind="postpaid")
    assert Account.objects.get(pk=credited.account_id).type == "postpaid"


KEYS = ("held-form-one", "held-form-two")  # the enterprise page's form keys


def test_money_held_for_an_open_dispute_is_not_allocated_to_members(client, credited, settings):
    """The bank has the money back already; allocated to a member, the lost dispute had left the master below zero
    and the member spending it."""
    from accounts.enterprise import allocate
    from accounts.exceptions import InsufficientFunds
    from tests.factories import EnterpriseMemberAccountFactory

    master, dave = credited.account, credited.created_by
    member = EnterpriseMemberAccountFactory(name="Carol", enterprise_master=master)
    post_ledger_entry(account_id=master.pk, amount=Money("50.00", "USD"), kind="adjustment", source_ref="adj:h:1")
    opened = hold_a_dispute(client, settings, credited, amount=6000)

    with pytest.raises(InsufficientFunds, match="90.00 USD available: 60.00 USD of its balance is promised to refunds"):
        allocate(master_id=master.pk, member_id=member.pk, amount=Money("100", "USD"), actor=dave, request_key=KEYS[0])
    allocate(master_id=master.pk, member_id=member.pk, amount=Money("90", "USD"), actor=dave, request_key=KEYS[1])

    deliver(client, event("charge.dispute.closed", {**opened, "status": "lost"}))
    assert balance(credited) == Money("0.00", "USD")  # 150.00 in, 90.00 to Carol, 60.00 kept by the bank
    assert ledger_mismatches() == []


def test_a_refund_of_another_top_up_leaves_what_an_open_dispute_holds(client, credited, settings, clerk, fake_stripe):
    """Refunding a second payment had spent the money the bank already took back for the first: the lost dispute
    then overdrew the account without anyone ticking the override."""
    second = PendingTopUpFactory(account=credited.account, amount=Money("50.00", "USD"))
    paid = paid_session(second, payment_intent="pi_3QtestRefunds0000000002")
    assert deliver(client, event("checkout.session.completed", paid)) == "credited"
    hold_a_dispute(client, settings, credited)
    post_ledger_entry(account_id=credited.account_id, amount=Money("-20.00", "USD"), kind="usage", source_ref="c:r")
    # 130.00 on the balance, 100.00 of it held: 30.00 is the customer's

    with pytest.raises(RefundRefused, match="of which 100.00 USD is promised to refunds not completed yet or held"):
        request_refund(topup_id=second.pk, amount=Money("50.00", "USD"), reason="", actor=clerk)
    assert request_refund(topup_id=second.pk, amount=Money("30.00", "USD"), reason="", actor=clerk)
    over = request_refund(topup_id=second.pk, amount=Money("20.00", "USD"), reason="Asked", actor=clerk, override=True)
    assert over.balance_override


def test_a_refund_asked_and_a_dispute_held_of_one_payment_promise_it_once(
    client, credited, settings, clerk, fake_stripe
):
    """A payment of 100.00 with a refund of 100.00 pending and a dispute of 100.00 held: at most 100.00 of it can
    leave the account, yet 200.00 had been counted, and refunding another payment was refused (found by a helper)."""
    fake_stripe.refund_status = "pending"
    request_refund(topup_id=credited.pk, amount=Money("100.00", "USD"), reason="", actor=clerk)
    hold_a_dispute(client, settings, credited)
    second = PendingTopUpFactory(account=credited.account, amount=Money("100.00", "USD"))
    paid = paid_session(second, payment_intent="pi_3QtestRefunds0000000003")
    assert deliver(client, event("checkout.session.completed", paid)) == "credited"
    assert balance(credited) == Money("200.00", "USD")

    assert request_refund(topup_id=second.pk, amount=Money("100.00", "USD"), reason="", actor=clerk)


@pytest.mark.parametrize("refund_first", ["during_the_inquiry", "pending_then_succeeded"])
def test_a_dispute_held_after_its_payment_was_refunded_holds_nothing(
    client, credited, settings, clerk, fake_stripe, refund_first
):
    """A dispute is held for what a loss would take now: nothing, once a refund took the whole credit. It had kept
    what it was first heard of, and the account, at zero, could not change type (found by a helper)."""
    from accounts.lifecycle import change_account_type

    settings.DISPUTE_POLICY = "hold"
    opened = dispute_object(payment_intent=PI, amount=10000, id="du_after_refund")
    if refund_first == "during_the_inquiry":
        deliver(client, event("charge.dispute.created", {**opened, "status": "warning_needs_response"}))
        request_refund(topup_id=credited.pk, amount=Money("100.00", "USD"), reason="", actor=clerk)
        deliver(client, event("charge.dispute.updated", opened))
    else:
        fake_stripe.refund_status = "pending"
        refund = request_refund(topup_id=credited.pk, amount=Money("100.00", "USD"), reason="", actor=clerk)
        deliver(client, event("charge.dispute.created", opened))
        stripe_refund = fake_stripe.refunds[refund.gateway_refund_id]
        assert deliver(client, event("refund.updated", {**stripe_refund, "status": "succeeded"})) == "refunded"
    assert Dispute.objects.get().status == Dispute.Status.OPEN
    assert balance(credited) == Money("0.00", "USD")

    change_account_type(account_id=credited.account_id, kind="postpaid")
    deliver(client, event("charge.dispute.closed", {**opened, "status": "lost"}))
    assert balance(credited) == Money("0.00", "USD")  # the loss takes nothing more
    assert ledger_mismatches() == []


def test_what_disputes_hold_is_read_in_a_few_queries_however_many_there_are(settings):
    """Read under the account's lock by every refund, allocation and change of type: it had cost seven queries a
    disputed payment, 281 for forty (found by a helper)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from topups.disputes import held_open

    settings.DISPUTE_POLICY = "hold"
    first = PendingTopUpFactory(amount=Money("100.00", "USD"))
    payments = [first] + [
        PendingTopUpFactory(account=first.account, created_by=first.created_by, amount=Money("100.00", "USD"))
        for _ in range(39)
    ]
    for n, topup in enumerate(payments):
        Dispute.objects.create(
            topup=topup, status="open", gateway_dispute_id=f"du_{n}", amount=Money("10.00", "USD"),
            debit_amount=Money("10.00", "USD"), reason="fraudulent",
        )  # fmt: skip
    with CaptureQueriesContext(connection) as queries:
        assert held_open(first.account_id, "USD") == Money("400.00", "USD")
    assert len(queries) <= 3
