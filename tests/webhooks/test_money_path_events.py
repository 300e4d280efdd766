"""Every money path raises its webhook event for an account that listens with its own endpoint,
through the path's real entry point (the payment webhook and its batch worker, a refund, a
dispute, a ticket, a statement, a repayment, the charge API, an allocation); an account beside it
in the same batch that nobody listens for gets nothing built (events.listening)."""

from datetime import timedelta

import pytest
from djmoney.money import Money

from accounts.alerts import check_balance_alert, set_alert
from accounts.ledger import credit_deposit
from accounts.models import EventDelivery, WebhookEndpoint, WebhookEvent
from accounts.outbound_webhooks.endpoints import register_endpoint
from accounts.outbound_webhooks.events import EVENT_TYPES
from accounts.usage_api.tokens import create_service_token
from accounts.verification import ledger_mismatches
from bills.reminders import remind_bill
from bills.settlement import repay
from tests.bills.conftest import NOVEMBER, at, charge, close
from tests.factories import EnterpriseMemberAccountFactory, PendingTopUpFactory, PostpaidAccountFactory, UserFactory
from tests.fakes.stripe import dispute_object, event, paid_session, post_webhook, signed
from tests.intake import apply_stored, delivered
from tests.tickets.conftest import make_ticket
from tests.tickets.statement_files import Entry, camt053
from tests.webhooks.conftest import master_allocates
from tickets.references import payment_reference
from tickets.review import confirm_and_credit, start_review
from tickets.statements.importing import import_statement
from topups.refunds import request_refund

pytestmark = pytest.mark.django_db
USD = "USD"


def listens(user) -> WebhookEndpoint:
    """The account's own endpoint, for every event there is."""
    return register_endpoint(
        account=user.account, url="https://93.184.216.34/mine", event_types=list(EVENT_TYPES), actor=user
    ).endpoint


def heard(account_id: int) -> list[tuple[str, dict]]:
    """The events kept for an account, oldest first, each with its payload's data."""
    events = WebhookEvent.objects.filter(account_id=account_id).order_by("id")
    return [(e.type, e.payload["data"]) for e in events]


def names(account_id: int) -> list[str]:
    return [name for name, _data in heard(account_id)]


def test_online_top_ups_credited_in_one_batch_refunds_and_disputes_raise_their_events(
    client, stripe_settings, fake_stripe, clerk
):
    refunded = PendingTopUpFactory(amount=Money("100.00", USD))
    disputed = PendingTopUpFactory(account=refunded.account, created_by=refunded.created_by)
    quiet = PendingTopUpFactory(amount=Money("70.00", USD))  # another account, nobody listens
    alice = refunded.created_by
    endpoint = listens(alice)

    for topup, intent in ((refunded, "pi_events_refunded"), (disputed, "pi_events_disputed"), (quiet, "pi_quiet")):
        body, signature = signed(event("checkout.session.completed", paid_session(topup, payment_intent=intent)))
        assert post_webhook(client, body, signature).status_code == 200
    assert apply_stored()["credited"] == 3  # the worker credits the three as one batch

    credits = [data for name, data in heard(alice.account_id) if name == "topup.credited"]
    assert [(c["kind"], c["amount"]) for c in credits] == [("online_topup", {"amount": "100.00", "currency": USD})] * 2
    assert not WebhookEvent.objects.filter(account_id=quiet.account_id).exists()

    request_refund(topup_id=refunded.pk, amount=Money("30.00", USD), reason="Asked by phone", actor=clerk)
    dispute = dispute_object(payment_intent="pi_events_disputed", amount=10000, id="du_events")
    for payload in (
        event("charge.dispute.created", dispute),
        event("charge.dispute.closed", {**dispute, "status": "won"}),
    ):
        body, signature = signed(payload)
        assert delivered(post_webhook(client, body, signature)) == "disputed"

    assert names(alice.account_id)[2:] == ["refund.created", "dispute.updated", "topup.credited", "dispute.updated"]
    (refund,) = [data for name, data in heard(alice.account_id) if name == "refund.created"]
    assert refund["amount"] == {"amount": "30.00", "currency": USD}
    opened, won = [data for name, data in heard(alice.account_id) if name == "dispute.updated"]
    assert (opened["status"], opened["balance_debited"]) == ("open", True)
    assert won["status"] == "won"
    returned = [data for name, data in heard(alice.account_id) if name == "topup.credited"][-1]
    assert (returned["kind"], returned["amount"]["amount"]) == ("dispute_won", "100.00")
    assert EventDelivery.objects.filter(endpoint=endpoint).count() == len(heard(alice.account_id))
    assert ledger_mismatches() == []


def test_a_ticket_a_statement_and_a_repayment_raise_their_events(bank, clerk, settings):
    settings.STATEMENT_AUTO_CREDIT = True
    alice, quiet = UserFactory(email="alice@example.com"), UserFactory()
    listens(alice)

    ticket = make_ticket(alice, bank, bank_reference="FT-PATHS", amount=Money("250.00", USD))
    start_review(ticket_id=ticket.pk, actor=clerk)
    confirm_and_credit(ticket_id=ticket.pk, actor=clerk, received=Money("250.00", USD), bank_reference="FT-PATHS")
    import_statement(
        receiving_account_id=bank.pk,
        data=camt053(
            [
                Entry("20.00", "LINE-ALICE", creditor_reference=payment_reference(alice.account_id)),
                Entry("30.00", "LINE-QUIET", creditor_reference=payment_reference(quiet.account_id)),
            ]
        ),
        name="paths.xml",
        actor=clerk,
    )
    events = heard(alice.account_id)
    assert [name for name, _ in events] == [
        "ticket.status_changed",
        "ticket.status_changed",
        "topup.credited",
        "ticket.status_changed",
        "topup.credited",
        "statement_line.matched",
    ]
    assert (events[2][1]["kind"], events[2][1]["amount"]["amount"]) == ("bank_transfer", "250.00")
    assert (events[4][1]["kind"], events[4][1]["amount"]["amount"]) == ("bank_transfer", "20.00")
    quiet.account.refresh_from_db()
    assert quiet.account.balance == Money("30.00", USD)  # credited in the same posting, no event built
    assert not WebhookEvent.objects.filter(account_id=quiet.account_id).exists()

    bob = UserFactory(account=PostpaidAccountFactory())
    listens(bob)
    charge(bob.account, "12.00", at(2026, 11, 3), "nov")
    bill = close(bob.account, NOVEMBER)
    remind_bill(bill_id=bill.pk, today=bill.due_on + timedelta(days=1))
    repay(account_id=bob.account_id, amount=Money("12.00", USD), source_ref="repay:paths", bill_ids=[bill.pk])
    assert names(bob.account_id) == ["charge.created", "bill.issued", "bill.overdue", "topup.credited"]
    assert heard(bob.account_id)[-1][1]["kind"] == "repayment"
    assert ledger_mismatches() == []


def test_charges_the_balance_alert_and_an_allocation_raise_their_events(client):
    alice, quiet = UserFactory(), UserFactory()
    listens(alice)
    set_alert(account_id=alice.account_id, enabled=True, threshold=Money("50.00", USD).amount, actor=alice)
    for user in (alice, quiet):
        credit_deposit(
            account_id=user.account_id, amount=Money("60.00", USD), kind="bank_transfer", source_ref=f"b{user.pk}"
        )
    token = create_service_token(service="metering", name="Metering")[1]
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    single = {"account": alice.account_id, "amount": "20.00", "currency": USD, "idempotency_key": "one"}
    assert client.post("/api/v1/charges", single, content_type="application/json", **auth).status_code == 201
    check_balance_alert(account_id=alice.account_id)  # the worker's task after the crossing (40.00 < 50.00)
    batch = {
        "charges": [
            {"account": user.account_id, "amount": "1.00", "currency": USD, "idempotency_key": f"b-{user.pk}"}
            for user in (quiet, alice)
        ]
    }
    assert client.post("/api/v1/charges/batch", batch, content_type="application/json", **auth).status_code == 200
    credit_deposit(account_id=alice.account_id, amount=Money("40.00", USD), kind="online_topup", source_ref="top:up")
    assert names(alice.account_id) == [
        "topup.credited",
        "charge.created",
        "balance.low",
        "charge.created",
        "balance.recovered",
        "topup.credited",
    ]
    assert not WebhookEvent.objects.filter(account_id=quiet.account_id).exists()

    member = EnterpriseMemberAccountFactory()
    master_user = master_allocates(member, key="paths-allocation", listen=listens)  # the member does not listen
    assert names(master_user.account_id) == ["topup.credited", "allocation.created"]
    assert not WebhookEvent.objects.filter(account_id=member.pk).exists()
