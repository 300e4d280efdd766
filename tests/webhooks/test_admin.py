"""Operators' webhooks in admin: an endpoint for every account (secret shown once), the delivery
log, and sending a selection again; finance clerks have no webhook powers."""

import pytest
from django.test import Client
from djmoney.money import Money

from accounts.ledger import credit_deposit
from accounts.models import EventDelivery, User, WebhookEndpoint
from accounts.outbound_webhooks.delivery import deliver_endpoint
from tests.factories import UserFactory
from tests.helpers import staff_login

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator_client():
    operator = User.objects.create_superuser("operator", "ops@example.com", "x-secret-pass-1")
    client = Client()
    staff_login(client, operator)
    return client


def test_an_operator_adds_an_endpoint_for_every_account_and_resends_from_the_log(operator_client, receiver):
    add = operator_client.post(
        "/admin/accounts/webhookendpoint/add/",
        {"url": receiver.url, "description": "Provisioning", "event_types": ["topup.credited"], "account": ""},
        follow=True,
    )
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.account is None and endpoint.secret in add.content.decode()
    assert (
        endpoint.secret
        not in operator_client.get(f"/admin/accounts/webhookendpoint/{endpoint.pk}/change/").content.decode()
    )

    for n, customer in enumerate([UserFactory(), UserFactory()]):
        credit_deposit(
            account_id=customer.account_id, amount=Money("5.00", "USD"), kind="bank_transfer", source_ref=f"bank:{n}"
        )
    deliver_endpoint(endpoint.pk)
    assert len(receiver.requests) == 2
    log = operator_client.get("/admin/accounts/eventdelivery/")
    assert log.status_code == 200 and "topup.credited" in log.content.decode()

    ids = [str(pk) for pk in EventDelivery.objects.values_list("pk", flat=True)]
    resend = operator_client.post(
        "/admin/accounts/eventdelivery/", {"action": "send_again", "_selected_action": ids}, follow=True
    )
    assert "2 event(s) will be sent again" in resend.content.decode()
    deliver_endpoint(endpoint.pk)
    assert len(receiver.requests) == 4


def test_a_private_address_is_refused_on_the_admin_form(operator_client):
    response = operator_client.post(
        "/admin/accounts/webhookendpoint/add/", {"url": "https://10.0.0.1/x", "event_types": ["topup.credited"]}
    )
    assert response.status_code == 400 and "private address" in response.content.decode()
    assert not WebhookEndpoint.objects.exists()


def test_an_endpoint_over_the_accounts_limit_is_refused_beside_the_admin_form(operator_client, settings):
    """The form comes back with the limit at its account field, what was typed kept (it had been the site's 403
    page; found by a helper)."""
    settings.WEBHOOK_ENDPOINTS_PER_ACCOUNT = 1
    owner = UserFactory(username="owner")
    WebhookEndpoint.objects.create(account=owner.account, url="https://93.184.216.34/a", event_types=["bill.issued"])
    response = operator_client.post(
        "/admin/accounts/webhookendpoint/add/",
        {"account": owner.account_id, "url": "https://93.184.216.34/b", "event_types": ["bill.issued"]},
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert "An account may have 1 endpoints; remove one first." in page and "https://93.184.216.34/b" in page
    assert WebhookEndpoint.objects.count() == 1


def test_a_finance_clerk_has_no_webhook_powers(clerk):
    client = Client()
    staff_login(client, clerk)
    assert client.get("/admin/accounts/webhookendpoint/").status_code == 403
    assert client.get("/admin/accounts/eventdelivery/").status_code == 403


def test_an_operators_switches_rotations_and_resends_are_in_admins_audit_trail_without_the_secret(
    operator_client, receiver
):
    from django.contrib.admin.models import LogEntry

    from accounts.outbound_webhooks.endpoints import register_endpoint
    from tests.helpers import admin_history

    owner = UserFactory()
    endpoint = register_endpoint(
        account=owner.account, url=receiver.url, event_types=["topup.credited"], actor=owner
    ).endpoint
    url = "/admin/accounts/webhookendpoint/"
    for action in ("turn_on", "turn_off", "turn_off", "rotate"):  # off twice: the second changes nothing
        operator_client.post(url, {"action": action, "_selected_action": [endpoint.pk]})
    endpoint.refresh_from_db()
    assert [what for _, what in admin_history(operator_client, f"{url}{endpoint.pk}/history/")] == [
        "Turned off: its events wait until it is on again",
        "Signing secret rotated; the old one signs for 24 more hours",
    ]
    assert not any(endpoint.secret in entry.change_message for entry in LogEntry.objects.all())
    credit_deposit(account_id=owner.account_id, amount=Money("5.00", "USD"), kind="bank_transfer", source_ref="bank:1")
    delivery = EventDelivery.objects.get()
    operator_client.post("/admin/accounts/eventdelivery/", {"action": "send_again", "_selected_action": [delivery.pk]})
    history = admin_history(operator_client, f"/admin/accounts/eventdelivery/{delivery.pk}/history/")
    assert history == [("operator", "Queued to be sent again")]
