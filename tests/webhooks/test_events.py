"""Each money path raises its webhook event, with the change it reports (the same transaction),
for the account's own endpoints and the operators'; nothing is kept when nobody listens."""

from datetime import timedelta

import pytest
from djmoney.money import Money

from accounts.alerts import check_balance_alert, set_alert
from accounts.ledger import credit_deposit, post_ledger_entry
from accounts.models import EventDelivery, User, WebhookEvent
from accounts.outbound_webhooks.endpoints import register_endpoint
from accounts.outbound_webhooks.events import EVENT_TYPES
from bills.reminders import remind_bill
from tests.bills.conftest import NOVEMBER, at, charge, close
from tests.factories import EnterpriseMemberAccountFactory, PostpaidAccountFactory, UserFactory
from tests.tickets.conftest import make_ticket
from tests.tickets.statement_files import Entry, camt053
from tests.webhooks.conftest import master_allocates
from tickets.references import payment_reference
from tickets.review import confirm_and_credit, start_review
from tickets.statements.importing import import_statement

pytestmark = pytest.mark.django_db
USD = "USD"


@pytest.fixture
def operator():
    user = User.objects.create_superuser("operator", "ops@example.com", "x-secret-pass-1")
    register_endpoint(account=None, url="https://93.184.216.34/all", event_types=list(EVENT_TYPES), actor=user)
    return user


def types() -> list[str]:
    return list(WebhookEvent.objects.order_by("id").values_list("type", flat=True))


def test_nothing_is_kept_when_nobody_listens():
    alice = UserFactory()
    credit_deposit(account_id=alice.account_id, amount=Money("5.00", USD), kind="bank_transfer", source_ref="bank:N")
    assert not WebhookEvent.objects.exists() and not EventDelivery.objects.exists()


def test_money_in_and_the_balance_alert_raise_their_events(operator):
    alice = UserFactory()
    set_alert(account_id=alice.account_id, enabled=True, threshold=Money("50.00", USD).amount, actor=alice)
    credit_deposit(account_id=alice.account_id, amount=Money("60.00", USD), kind="bank_transfer", source_ref="bank:1")
    credit_deposit(account_id=alice.account_id, amount=Money("60.00", USD), kind="bank_transfer", source_ref="bank:1")
    post_ledger_entry(account_id=alice.account_id, amount=Money("-20.00", USD), kind="usage", source_ref="use:1")
    check_balance_alert(account_id=alice.account_id)
    check_balance_alert(account_id=alice.account_id)  # once per crossing
    credit_deposit(account_id=alice.account_id, amount=Money("30.00", USD), kind="online_topup", source_ref="top:1")
    assert types() == ["topup.credited", "balance.low", "balance.recovered", "topup.credited"]
    low = WebhookEvent.objects.get(type="balance.low")
    assert low.payload["data"]["balance"] == {"amount": "40.00", "currency": USD}
    assert EventDelivery.objects.count() == 4  # the operator's endpoint, once each


def test_tickets_statement_lines_bills_and_allocations_raise_their_events(operator, bank, clerk, settings):
    settings.STATEMENT_AUTO_CREDIT = True
    alice = UserFactory(email="alice@example.com")
    ticket = make_ticket(alice, bank, bank_reference="FT-EVENTS", amount=Money("250.00", USD))
    start_review(ticket_id=ticket.pk, actor=clerk)
    confirm_and_credit(ticket_id=ticket.pk, actor=clerk, received=Money("250.00", USD), bank_reference="FT-EVENTS")
    statuses = [
        e.payload["data"]["status"] for e in WebhookEvent.objects.filter(type="ticket.status_changed").order_by("id")
    ]
    assert statuses == ["submitted", "under_review", "credited"]

    rf = payment_reference(alice.account_id)
    import_statement(
        receiving_account_id=bank.pk,
        data=camt053([Entry("20.00", "LINE-1", creditor_reference=rf), Entry("9.00", "LINE-2")]),
        name="s.xml",
        actor=clerk,
    )
    (matched,) = WebhookEvent.objects.filter(type="statement_line.matched")
    assert matched.payload["data"]["bank_reference"] == "LINE-1" and matched.payload["data"]["state"] == "credited"

    postpaid = PostpaidAccountFactory()
    charge(postpaid, "12.00", at(2026, 11, 3), "nov")
    bill = close(postpaid, NOVEMBER)
    remind_bill(bill_id=bill.pk, today=bill.due_on + timedelta(days=1))
    issued, overdue = WebhookEvent.objects.get(type="bill.issued"), WebhookEvent.objects.get(type="bill.overdue")
    assert issued.payload["data"]["number"] == bill.number and overdue.payload["data"]["status"] == "overdue"

    member = EnterpriseMemberAccountFactory()
    master = member.enterprise_master
    master_allocates(member, key="events-allocation-1")
    moves = WebhookEvent.objects.filter(type="allocation.created").order_by("id")
    assert [m.account_id for m in moves] == [master.pk, member.pk]
    assert moves[0].payload["data"]["amount"] == {"amount": "40.00", "currency": USD}


def test_a_batch_of_charges_raises_events_only_for_the_accounts_someone_listens_for(client):
    from accounts.usage_api.tokens import create_service_token

    listener, quiet = UserFactory(), UserFactory()
    register_endpoint(
        account=listener.account, url="https://93.184.216.34/mine", event_types=["charge.created"], actor=listener
    )
    token = create_service_token(service="metering", name="Metering")[1]
    batch = {
        "charges": [
            {"account": account_id, "amount": "1.00", "currency": USD, "idempotency_key": f"k{n}-{account_id}"}
            for n in range(3)
            for account_id in (listener.account_id, quiet.account_id)
        ]
    }
    response = client.post(
        "/api/v1/charges/batch", data=batch, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}"
    )
    assert response.status_code == 200 and response.json()["created"] == 6
    (event,) = WebhookEvent.objects.filter(type="charge.created")
    assert event.account_id == listener.account_id
    assert [c["idempotency_key"] for c in event.payload["data"]["charges"]] == [
        f"k{n}-{listener.account_id}" for n in range(3)
    ]

    # An operator's endpoint hears every account: the next batch raises one event per account.
    operator = User.objects.create_superuser("ops", "ops@example.com", "x-secret-pass-1")
    register_endpoint(account=None, url="https://93.184.216.34/all", event_types=["charge.created"], actor=operator)
    for item in batch["charges"]:
        item["idempotency_key"] += "-again"
    client.post(
        "/api/v1/charges/batch", data=batch, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}"
    )
    later = WebhookEvent.objects.filter(type="charge.created").exclude(pk=event.pk)
    assert sorted(later.values_list("account_id", flat=True)) == sorted([listener.account_id, quiet.account_id])
