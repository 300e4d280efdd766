"""What a delivery will not do, shown against a real receiver on a loopback port: send an event
whose change was rolled back, follow a redirect, read an answer to its end, or look a name up a
second time before connecting (DNS rebinding)."""

import socket

import pytest
from django.db import transaction
from djmoney.money import Money

from accounts.ledger import credit_deposit
from accounts.models import DeliveryAttempt, EventDelivery, LedgerEntry, WebhookEvent
from accounts.outbound_webhooks.delivery import deliver_endpoint
from accounts.outbound_webhooks.endpoints import register_endpoint
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


class RolledBack(Exception):
    pass


@pytest.fixture
def alice():
    return UserFactory(username="alice", email="alice@example.com")


def listen(alice, url: str):
    return register_endpoint(account=alice.account, url=url, event_types=["topup.credited"], actor=alice).endpoint


def credit(alice, source: str):
    credit_deposit(account_id=alice.account_id, amount=Money("10.00", "USD"), kind="bank_transfer", source_ref=source)


def test_a_change_rolled_back_keeps_no_event_and_sends_nothing(alice, receiver):
    endpoint = listen(alice, receiver.url)
    with pytest.raises(RolledBack), transaction.atomic():
        credit(alice, "bank:ROLLED")
        assert WebhookEvent.objects.count() == 1  # written beside the entry, in its transaction
        raise RolledBack

    assert not LedgerEntry.objects.exists()
    assert not WebhookEvent.objects.exists() and not EventDelivery.objects.exists()
    assert deliver_endpoint(endpoint.pk) == 0
    assert receiver.requests == []


def test_a_redirect_is_not_followed(alice, receiver):
    endpoint = listen(alice, receiver.url)
    receiver.status, receiver.location = 307, receiver.url.replace("/hooks", "/elsewhere")
    credit(alice, "bank:REDIRECT")

    assert deliver_endpoint(endpoint.pk) == 0
    assert [r.path for r in receiver.requests] == ["/hooks"]  # nothing went to /elsewhere
    attempt = DeliveryAttempt.objects.get()
    assert attempt.status_code == 307 and not attempt.succeeded
    assert EventDelivery.objects.get().status == EventDelivery.Status.PENDING  # retried later, as a failure


def test_only_the_start_of_an_answer_is_read(alice, receiver, settings):
    """The receiver announces 100 MB and never finishes sending: the delivery reads its limit,
    records the answer and hangs up."""
    settings.WEBHOOK_READ_TIMEOUT = 2
    endpoint = listen(alice, receiver.url)
    receiver.endless = True
    credit(alice, "bank:ENDLESS")

    assert deliver_endpoint(endpoint.pk) == 1
    attempt = DeliveryAttempt.objects.get()
    assert attempt.status_code == 200 and attempt.error == ""
    assert attempt.response_excerpt == "x" * 500
    assert attempt.latency_ms < 2000  # not a read to the end, nor a wait for the read timeout
    assert receiver.sent < 100 * 2**20


def test_a_receiver_answering_a_byte_at_a_time_is_cut_off_at_the_attempts_deadline(alice, receiver, settings, client):
    """Each byte comes well within the read timeout, so only a deadline on the whole attempt ends it: the
    answer's 70 bytes at a byte every 0.3 s would take 21 s. Such a receiver had held a worker for as long as it
    liked, and past the endpoint's lease a second worker sent the same event (found by a helper)."""
    settings.WEBHOOK_ATTEMPT_SECONDS = 1.5
    endpoint = listen(alice, receiver.url)
    receiver.drip = 0.3
    credit(alice, "bank:DRIP")

    assert deliver_endpoint(endpoint.pk) == 0
    attempt = DeliveryAttempt.objects.get()
    assert attempt.status_code is None and attempt.error == "No complete answer within 1.5 seconds."
    assert 1500 <= attempt.latency_ms < 5000
    assert receiver.sent < 20
    delivery = EventDelivery.objects.get()
    assert delivery.status == EventDelivery.Status.PENDING and delivery.attempts == 1  # retried later, with backoff
    endpoint.refresh_from_db()
    assert endpoint.claimed_until is None
    # The log reads in each reader's language, whatever the worker's was (it had stayed English).
    client.force_login(alice)
    page = client.get(f"/billing/developers/webhooks/{endpoint.pk}/", HTTP_ACCEPT_LANGUAGE="zh-hans").content
    assert "1.5 秒内未收到完整响应。" in page.decode()


def test_a_name_is_looked_up_once_per_delivery_and_its_checked_address_is_the_one_connected_to(
    alice, receiver, monkeypatch
):
    """A resolver that answers 127.0.0.1 for the name once, then a private address no one listens
    on: a client that looked the name up again to connect would never reach the receiver."""
    port = int(receiver.url.rsplit(":", 1)[1].split("/")[0])
    real_getaddrinfo, lookups = socket.getaddrinfo, []

    def rebinding(host, *args, **kwargs):
        if host != "hooks.rebind.test":
            return real_getaddrinfo(host, *args, **kwargs)
        lookups.append(host)
        address = "127.0.0.1" if len(lookups) % 2 else "10.255.255.1"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, args[0] if args else port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    endpoint = listen(alice, f"http://hooks.rebind.test:{port}/hooks")  # lookup 1: 127.0.0.1, loopback allowed
    lookups.clear()
    credit(alice, "bank:REBIND")

    assert deliver_endpoint(endpoint.pk) == 1  # lookup 1 again: checked, then connected to
    assert lookups == ["hooks.rebind.test"]
    (request,) = receiver.requests
    assert request.headers["host"] == f"hooks.rebind.test:{port}"


def test_a_name_that_turns_private_after_registration_is_refused_at_delivery(alice, receiver, monkeypatch, settings):
    """Public when registered, 127.0.0.1 when the delivery is due: nothing is sent."""
    settings.WEBHOOK_ALLOW_LOOPBACK, settings.WEBHOOK_REQUIRE_HTTPS = False, False
    port = int(receiver.url.rsplit(":", 1)[1].split("/")[0])
    real_getaddrinfo, answers = socket.getaddrinfo, ["93.184.216.34"]

    def rebinding(host, *args, **kwargs):
        if host != "hooks.rebind.test":
            return real_getaddrinfo(host, *args, **kwargs)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answers[0], port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    endpoint = listen(alice, f"http://hooks.rebind.test:{port}/hooks")
    answers[0] = "127.0.0.1"
    credit(alice, "bank:TURNED")

    assert deliver_endpoint(endpoint.pk) == 0
    assert receiver.requests == []
    attempt = DeliveryAttempt.objects.get()
    assert attempt.status_code is None and "127.0.0.1" in attempt.error and "private" in attempt.error


def test_an_address_in_any_script_is_delivered_percent_encoded(alice, receiver):
    """HTTP's request line is ASCII: a path or query in another script goes as a browser sends it. The delivery had
    failed before recording an attempt, again at every sweep, holding the endpoint's later events (found by a
    helper)."""
    endpoint = listen(alice, receiver.url + "/h\u00f6ok?name=\u5317\u4eac")
    credit(alice, "bank:IRI")

    assert deliver_endpoint(endpoint.pk) == 1
    assert [request.path for request in receiver.requests] == ["/hooks/h%C3%B6ok?name=%E5%8C%97%E4%BA%AC"]
    assert EventDelivery.objects.get().status == EventDelivery.Status.DELIVERED
