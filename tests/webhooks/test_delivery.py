"""Outbound webhooks delivered by a real worker to a real receiver on a loopback port, each
delivery verified with the Standard Webhooks library (not our code)."""

import json
import threading
import time

import pytest
from django.utils import translation
from djmoney.money import Money
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from accounts.alerts import set_alert
from accounts.ledger import credit_deposit, post_ledger_entry
from accounts.models import DeliveryAttempt, EventDelivery, OutboundEmail, WebhookEndpoint
from accounts.outbound_webhooks.endpoints import register_endpoint, rotate_secret, set_enabled
from accounts.usage_api.tokens import create_service_token
from tests.conftest import wait_for
from tests.draining import drain
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)
BANK = "bank_transfer"


def usd(amount: str) -> Money:
    return Money(amount, "USD")


@pytest.fixture
def alice():
    return UserFactory(username="alice", email="alice@example.com")


def listen(user, receiver, *types):
    return register_endpoint(account=user.account, url=receiver.url, event_types=list(types), actor=user)


def charge_api(client, account, key: str, amount: str):
    token = create_service_token(service="metering", name="Metering")[1]
    body = {"account": account.pk, "amount": amount, "currency": "USD", "idempotency_key": key}
    response = client.post(
        "/api/v1/charges", data=json.dumps(body), content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}"
    )
    assert response.status_code == 201, response.content


def verified(secret: str, receiver) -> list[dict]:
    return [Webhook(secret).verify(r.body, r.headers) for r in receiver.requests]


def test_every_delivery_verifies_with_a_standard_webhooks_library_in_order(alice, receiver, celery_worker, client):
    registered = listen(alice, receiver, "topup.credited", "charge.created", "balance.low")
    credit_deposit(account_id=alice.account_id, amount=usd("100.00"), kind=BANK, source_ref="bank:FT-1")
    # Set above the balance only: set at zero, its own check (the worker's, after commit) may find the account
    # below it before the credit commits, and rightly send a balance.low of its own first.
    set_alert(account_id=alice.account_id, enabled=True, threshold=usd("50.00").amount, actor=alice)

    charge_api(client, alice.account, "k1", "30.00")
    charge_api(client, alice.account, "k2", "30.00")  # 40.00 left: below the 50.00 alert
    drain()

    payloads = verified(registered.secret, receiver)
    assert [p["type"] for p in payloads] == ["topup.credited", "charge.created", "charge.created", "balance.low"]
    assert payloads[0]["data"]["amount"] == {"amount": "100.00", "currency": "USD"}
    assert payloads[0]["data"]["balance_after"] == {"amount": "100.00", "currency": "USD"}
    assert payloads[2]["data"]["charges"][0]["idempotency_key"] == "k2"
    assert payloads[3]["data"]["balance"] == {"amount": "40.00", "currency": "USD"}
    assert all(p["version"] == 1 and p["account_id"] == alice.account_id for p in payloads)
    assert [r.headers["webhook-id"] for r in receiver.requests] == [p["id"] for p in payloads]
    assert len({p["id"] for p in payloads}) == 4
    tampered = receiver.requests[0]
    with pytest.raises(WebhookVerificationError):
        Webhook(registered.secret).verify(tampered.body.replace(b"100.00", b"900.00"), tampered.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "A" * 32).verify(tampered.body, tampered.headers)
    log = list(DeliveryAttempt.objects.order_by("at"))
    assert [a.status_code for a in log] == [200] * 4 and all(a.response_excerpt == "ok" for a in log)


def test_a_receiver_that_fails_five_times_then_recovers_gets_every_event_once_in_order(alice, receiver, celery_worker):
    registered = listen(alice, receiver, "topup.credited")
    receiver.fail_next = 5
    for n in range(3):
        credit_deposit(account_id=alice.account_id, amount=usd(f"{10 + n}.00"), kind=BANK, source_ref=f"bank:R{n}")
    drain(timeout=120)  # five retries, a second apart, held by the worker for their countdown

    assert len(receiver.requests) == 5 + 3
    delivered = verified(registered.secret, receiver)[5:]
    assert [p["data"]["amount"]["amount"] for p in delivered] == ["10.00", "11.00", "12.00"]
    assert len({p["id"] for p in delivered}) == 3
    assert {r.headers["webhook-id"] for r in receiver.requests[:6]} == {delivered[0]["id"]}  # a retry keeps its id
    first = EventDelivery.objects.order_by("event_id").first()
    assert first.status == "delivered" and first.attempts == 6
    assert [a.status_code for a in first.log.order_by("at")] == [503] * 5 + [200]
    assert EventDelivery.objects.filter(status="delivered").count() == 3


def test_a_receiver_that_hangs_does_not_hold_up_crediting(alice, receiver, celery_worker, settings):
    settings.WEBHOOK_READ_TIMEOUT = 2
    listen(alice, receiver, "topup.credited")
    receiver.hang = threading.Event()
    credit_deposit(account_id=alice.account_id, amount=usd("10.00"), kind=BANK, source_ref="bank:H1")
    assert receiver.arrived.wait(timeout=30)  # the worker is inside the receiver, waiting for an answer

    # Meanwhile money keeps coming in: the credit commits without waiting for any receiver.
    started = time.monotonic()
    second = credit_deposit(account_id=alice.account_id, amount=usd("20.00"), kind=BANK, source_ref="bank:H2")
    took = time.monotonic() - started
    alice.account.refresh_from_db()
    assert alice.account.balance == usd("30.00") and second.entry.pk
    assert not receiver.hang.is_set()
    assert took < settings.WEBHOOK_READ_TIMEOUT  # a credit never waits out a receiver's timeout
    print(f"\ncredited in {took * 1000:.0f} ms while the receiver hung (its read timeout: 2 s)")

    assert wait_for(DeliveryAttempt.objects.exists)  # the worker gave up waiting: a timeout, logged
    receiver.hang.set()
    drain(timeout=120)
    first = EventDelivery.objects.order_by("event_id").first()
    assert "timeout" in first.log.order_by("at").first().error.lower()
    assert EventDelivery.objects.filter(status="delivered").count() == 2


def test_retries_used_up_disable_the_endpoint_and_mail_its_owner(alice, receiver, celery_worker, settings):
    settings.WEBHOOK_RETRY_DELAYS = [0, 0]
    receiver.status = 500
    endpoint = listen(alice, receiver, "topup.credited").endpoint
    credit_deposit(account_id=alice.account_id, amount=usd("10.00"), kind=BANK, source_ref="bank:D1")
    drain(timeout=60)

    assert len(receiver.requests) == 3
    endpoint.refresh_from_db()
    assert not endpoint.enabled
    assert endpoint.disabled_reason == "Every attempt to deliver an event failed (3 in all, over 0 hours)."
    with translation.override("zh-hans"):
        assert endpoint.disabled_reason_shown == "每次投递事件的尝试均失败（共 3 次，历时 0 小时）。"
    assert EventDelivery.objects.get().status == "failed"
    mail = OutboundEmail.objects.get(to="alice@example.com")
    assert "disabled" in mail.subject and receiver.url in mail.body

    # Events that happen while it is off wait; turned on, it gets them.
    credit_deposit(account_id=alice.account_id, amount=usd("11.00"), kind=BANK, source_ref="bank:D2")
    drain(timeout=60)
    assert len(receiver.requests) == 3
    receiver.status = 200
    set_enabled(endpoint, True)
    drain(timeout=60)
    assert len(receiver.requests) == 4
    assert WebhookEndpoint.objects.get().enabled


def test_while_a_secret_is_rotated_both_secrets_verify(alice, receiver, celery_worker):
    registered = listen(alice, receiver, "topup.credited")
    new_secret = rotate_secret(registered.endpoint)
    post_ledger_entry(account_id=alice.account_id, amount=usd("5.00"), kind="adjustment", source_ref="seed")
    credit_deposit(account_id=alice.account_id, amount=usd("10.00"), kind=BANK, source_ref="bank:S1")
    drain()

    (request,) = receiver.requests
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    assert Webhook(new_secret).verify(request.body, request.headers)["type"] == "topup.credited"
    assert Webhook(registered.secret).verify(request.body, request.headers)["type"] == "topup.credited"


def test_the_default_retry_schedule_backs_off_for_about_three_days():
    """What production runs when WEBHOOK_RETRY_DELAYS is not set: each wait longer than the one
    before, all of them together just under three days (then the endpoint is turned off)."""
    from billing_center.settings.webhooks import DEFAULT_RETRY_DELAYS

    delays = [int(seconds) for seconds in DEFAULT_RETRY_DELAYS.split(",")]
    assert delays == sorted(set(delays)) and delays[0] <= 10
    assert 2.5 * 86_400 <= sum(delays) <= 3 * 86_400
