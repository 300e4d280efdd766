"""Developers › Webhooks, as a customer uses it: add an endpoint (its secret shown once), turn it
off and on, rotate its secret, edit and remove it, see the delivery log, send events again;
another customer's endpoint is a 404; bad input is a 4xx with the reason and writes nothing."""

import pytest
from django.test import Client
from djmoney.money import Money
from standardwebhooks.webhooks import Webhook

from accounts.ledger import credit_deposit
from accounts.models import EventDelivery, WebhookEndpoint
from accounts.outbound_webhooks.delivery import deliver_endpoint
from accounts.outbound_webhooks.endpoints import register_endpoint
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
LIST = "/billing/developers/webhooks/"


@pytest.fixture
def alice():
    return UserFactory(username="alice", email="alice@example.com")


@pytest.fixture
def signed_in(client, alice):
    client.force_login(alice)
    return client


def add(client, url="https://93.184.216.34/hooks", events=("topup.credited", "balance.low")):
    return client.post(LIST, {"url": url, "description": "Our ERP", "event_types": list(events)})


def test_an_endpoint_is_added_and_its_secret_shown_once(signed_in, alice):
    empty = signed_in.get(LIST)
    assert empty.status_code == 200 and "No endpoints yet" in empty.content.decode()

    response = add(signed_in)
    page = response.content.decode()
    endpoint = WebhookEndpoint.objects.get()
    assert response.status_code == 201 and endpoint.secret in page and "shown only once" in page
    assert "no-store" in response["Cache-Control"]
    assert endpoint.account == alice.account and endpoint.event_types == ["topup.credited", "balance.low"]

    listed = signed_in.get(LIST).content.decode()
    detail = signed_in.get(f"{LIST}{endpoint.pk}/").content.decode()
    assert "https://93.184.216.34/hooks" in listed and endpoint.secret not in listed + detail


@pytest.mark.parametrize(
    "data, message",
    [
        ({"url": "not a url", "event_types": ["topup.credited"]}, "Enter a valid URL"),
        ({"url": "https://10.0.0.8/hooks", "event_types": ["topup.credited"]}, "private address"),
        ({"url": "http://93.184.216.34/hooks", "event_types": ["topup.credited"]}, "must start with https"),
        ({"url": "https://93.184.216.34/hooks", "event_types": []}, "Choose at least one event"),
        ({"url": "https://93.184.216.34/hooks", "event_types": ["money.stolen"]}, "Select a valid choice"),
        ({"url": "https://93.184.216.34/" + "a" * 600, "event_types": ["topup.credited"]}, "at most 500"),
    ],
)
def test_bad_input_is_a_400_with_the_reason_and_writes_nothing(signed_in, data, message):
    response = signed_in.post(LIST, data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not WebhookEndpoint.objects.exists()


def test_another_customers_endpoint_is_a_404_for_every_url(signed_in, alice):
    bob = UserFactory(username="bob")
    theirs = register_endpoint(
        account=bob.account, url="https://93.184.216.34/bob", event_types=["topup.credited"], actor=bob
    ).endpoint
    credit_deposit(account_id=bob.account_id, amount=Money("5.00", "USD"), kind="bank_transfer", source_ref="bank:B")
    delivery = EventDelivery.objects.get()
    base = f"{LIST}{theirs.pk}/"
    assert signed_in.get(base).status_code == 404
    for action in ("edit/", "rotate/", "toggle/", "delete/", "replay/", f"deliveries/{delivery.pk}/replay/"):
        assert signed_in.post(base + action, {"enabled": "false"}).status_code == 404, action
    assert signed_in.get(f"{LIST}99999999999999999999999/").status_code == 400  # no id of ours is that long
    assert signed_in.get(f"{LIST}abc/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.enabled and WebhookEndpoint.objects.filter(pk=theirs.pk).exists()


def test_posts_need_the_csrf_token(alice):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(alice)
    response = strict.post(LIST, {"url": "https://93.184.216.34/hooks", "event_types": ["topup.credited"]})
    assert response.status_code == 403 and not WebhookEndpoint.objects.exists()


def test_the_delivery_log_shows_each_answer_and_an_event_is_sent_again(signed_in, alice, receiver):
    endpoint = register_endpoint(
        account=alice.account, url=receiver.url, event_types=["topup.credited"], actor=alice
    ).endpoint
    receiver.status = 500
    credit_deposit(account_id=alice.account_id, amount=Money("5.00", "USD"), kind="bank_transfer", source_ref="bank:L")
    deliver_endpoint(endpoint.pk)
    page = signed_in.get(f"{LIST}{endpoint.pk}/").content.decode()
    assert "topup.credited" in page and "HTTP 500" in page and "try later" in page

    receiver.status = 200
    delivery = EventDelivery.objects.get()
    response = signed_in.post(f"{LIST}{endpoint.pk}/deliveries/{delivery.pk}/replay/")
    assert response.status_code == 303
    deliver_endpoint(endpoint.pk)
    delivery.refresh_from_db()
    assert delivery.status == "delivered" and len(receiver.requests) == 2


def test_a_range_of_events_is_sent_again_oldest_first(signed_in, alice, receiver):
    endpoint = register_endpoint(
        account=alice.account, url=receiver.url, event_types=["topup.credited"], actor=alice
    ).endpoint
    credit_deposit(account_id=alice.account_id, amount=Money("5.00", "USD"), kind="bank_transfer", source_ref="bank:1")
    credit_deposit(account_id=alice.account_id, amount=Money("6.00", "USD"), kind="bank_transfer", source_ref="bank:2")
    deliver_endpoint(endpoint.pk)
    assert len(receiver.requests) == 2

    bad = signed_in.post(f"{LIST}{endpoint.pk}/replay/", {"since": "2026-12-31T00:00", "until": "2026-01-01T00:00"})
    assert bad.status_code == 400 and "must come after" in bad.content.decode()
    response = signed_in.post(
        f"{LIST}{endpoint.pk}/replay/", {"since": "2020-01-01T00:00", "until": "2100-01-01T00:00"}
    )
    assert response.status_code == 303
    deliver_endpoint(endpoint.pk)
    amounts = [r.body.decode().split('"amount":"')[1].split('"')[0] for r in receiver.requests]
    assert amounts == ["5.00", "6.00", "5.00", "6.00"]
    ids = [r.headers["webhook-id"] for r in receiver.requests]
    assert ids[2:] == ids[:2] and ids[0] != ids[1]  # sent again under the same ids: receivers can deduplicate


def test_the_pages_speak_chinese_to_a_chinese_browser(signed_in, alice):
    endpoint = register_endpoint(
        account=alice.account, url="https://93.184.216.34/hooks", event_types=["topup.credited"], actor=alice
    ).endpoint
    listed = signed_in.get(LIST, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    detail = signed_in.get(f"{LIST}{endpoint.pk}/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "添加端点" in listed and "资金已入账" in listed
    assert "轮换密钥" in detail and "重新发送一段时间内的事件" in detail
    refused = signed_in.post(
        LIST, {"url": "https://10.0.0.8/hooks", "event_types": ["topup.credited"]}, HTTP_ACCEPT_LANGUAGE="zh-hans"
    )
    assert refused.status_code == 400 and "私有地址" in refused.content.decode()


def test_the_owner_turns_an_endpoint_off_and_on_rotates_its_secret_edits_it_and_removes_it(signed_in, alice, receiver):
    old_secret = register_endpoint(
        account=alice.account, url=receiver.url, event_types=["topup.credited"], actor=alice
    ).secret
    endpoint = WebhookEndpoint.objects.get()
    base = f"{LIST}{endpoint.pk}/"

    assert signed_in.post(base + "toggle/", {"enabled": "false"}).status_code == 303
    credit_deposit(account_id=alice.account_id, amount=Money("5.00", "USD"), kind="bank_transfer", source_ref="bank:O")
    assert deliver_endpoint(endpoint.pk) == 0 and receiver.requests == []  # off: the event waits
    assert "events wait until it is on again" in signed_in.get(base).content.decode()
    assert signed_in.post(base + "toggle/", {"enabled": "true"}).status_code == 303
    assert deliver_endpoint(endpoint.pk) == 1 and len(receiver.requests) == 1

    rotated = signed_in.post(base + "rotate/")
    endpoint.refresh_from_db()
    assert rotated.status_code == 200 and "no-store" in rotated["Cache-Control"]
    assert endpoint.secret != old_secret and endpoint.secret in rotated.content.decode()
    assert endpoint.secret not in signed_in.get(base).content.decode()  # shown once
    credit_deposit(account_id=alice.account_id, amount=Money("6.00", "USD"), kind="bank_transfer", source_ref="bank:R")
    assert deliver_endpoint(endpoint.pk) == 1
    for secret in (endpoint.secret, old_secret):  # both sign while the old one overlaps
        assert Webhook(secret).verify(receiver.requests[-1].body, receiver.requests[-1].headers)["type"]

    wanted = {"url": receiver.url, "description": "ERP v2", "event_types": ["topup.credited", "balance.low"]}
    assert signed_in.post(base + "edit/", wanted).status_code == 303
    refused = signed_in.post(base + "edit/", {**wanted, "url": "https://10.0.0.8/hooks"})
    assert refused.status_code == 400 and "private address" in refused.content.decode()
    endpoint.refresh_from_db()
    assert (endpoint.url, endpoint.description) == (receiver.url, "ERP v2")
    assert endpoint.event_types == ["topup.credited", "balance.low"]

    assert signed_in.post(base + "delete/").status_code == 303
    assert not WebhookEndpoint.objects.exists()
    assert signed_in.get(base).status_code == 404
