"""Webhooks never reach our own network: refused at registration and again at delivery."""

import pytest
from djmoney.money import Money

from accounts.ledger import credit_deposit
from accounts.models import DeliveryAttempt, WebhookEndpoint
from accounts.outbound_webhooks.delivery import deliver_endpoint
from accounts.outbound_webhooks.endpoints import register_endpoint
from money.errors import Invalid
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice():
    return UserFactory(username="alice", email="alice@example.com")


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hooks",
        "https://10.1.2.3/hooks",
        "https://172.16.0.1/hooks",
        "https://192.168.1.20/hooks",
        "https://100.64.0.1/hooks",  # carrier-grade NAT
        "https://169.254.169.254/latest/meta-data",  # the cloud's metadata service (link-local)
        "https://0.0.0.0/hooks",
        "https://[::1]/hooks",
        "https://[fc00::1]/hooks",  # IPv6 unique local
        "https://[fe80::1]/hooks",  # IPv6 link-local
        "https://[::ffff:127.0.0.1]/hooks",  # IPv4-mapped loopback
        "https://[::ffff:10.0.0.1]/hooks",
        "https://[2002:7f00:1::1]/hooks",  # 6to4 (2002::/16) around 127.0.0.1
        "https://[2002:a9fe:a9fe::1]/hooks",  # 6to4 around the metadata service, 169.254.169.254
        "https://[64:ff9b::a9fe:a9fe]/hooks",  # NAT64 around 169.254.169.254
        "https://2130706433/hooks",  # 127.0.0.1 in decimal
        "https://0177.0.0.1/hooks",  # 127.0.0.1 in octal
        "https://0x7f.0.0.1/hooks",  # 127.0.0.1 in hex
        "https://017700000001/hooks",  # 127.0.0.1, one octal number
        "https://localhost/hooks",  # a name that resolves to 127.0.0.1
        "https://224.0.0.1/hooks",  # multicast
        # Called global by Python's ipaddress (found by a helper): IPv6 site-local, deprecated and used as a
        # private network, and the IETF's protocol assignments (global in Python 3.11.7).
        "https://[fec0::1]/hooks",
        "https://[fec0::a9fe:a9fe]/hooks",
        "https://192.0.0.8/hooks",
        "https://[::ffff:192.0.0.8]/hooks",
    ],
)
def test_a_private_loopback_or_link_local_address_is_refused_at_registration(alice, url):
    with pytest.raises(Invalid) as refused:
        register_endpoint(account=alice.account, url=url, event_types=["topup.credited"], actor=alice)
    assert refused.value.code == "webhook_url_private"
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.parametrize(
    "url, code",
    [
        ("http://93.184.216.34/hooks", "webhook_url_scheme"),  # https only
        ("ftp://93.184.216.34/hooks", "webhook_url_scheme"),
        ("https://user:pass@93.184.216.34/hooks", "webhook_url_host"),
        ("https:///hooks", "webhook_url_host"),
        ("https://93.184.216.34:99999/hooks", "webhook_url_port"),
        ("https://93.184.216.34:0/hooks", "webhook_url_port"),  # had been read as no port, and sent to 443
        ("https://93.184.216.34:x/hooks", "webhook_url_port"),
        ("https://no-such-host.invalid/hooks", "webhook_url_dns"),
    ],
)
def test_other_unusable_urls_are_refused_with_their_reason(alice, url, code):
    with pytest.raises(Invalid) as refused:
        register_endpoint(account=alice.account, url=url, event_types=["topup.credited"], actor=alice)
    assert refused.value.code == code


def test_a_public_address_over_https_is_accepted(alice):
    registered = register_endpoint(
        account=alice.account, url="https://93.184.216.34/hooks", event_types=["topup.credited"], actor=alice
    )
    assert registered.secret.startswith("whsec_") and registered.endpoint.enabled


def test_an_address_that_turned_private_after_registration_is_refused_at_delivery(alice, receiver, settings):
    """As if the name now resolved elsewhere (DNS rebinding): the check runs again before sending."""
    registered = register_endpoint(
        account=alice.account, url=receiver.url, event_types=["topup.credited"], actor=alice
    )  # allowed while the test setting lets loopback through
    settings.WEBHOOK_ALLOW_LOOPBACK, settings.WEBHOOK_REQUIRE_HTTPS = False, False  # the address alone decides
    credit_deposit(account_id=alice.account_id, amount=Money("10.00", "USD"), kind="bank_transfer", source_ref="bank:X")

    assert deliver_endpoint(registered.endpoint.pk) == 0
    assert receiver.requests == []
    attempt = DeliveryAttempt.objects.get()
    assert attempt.status_code is None and "private" in attempt.error
