"""The return page's status JSON: what its script polls instead of the page reloading itself."""

import pytest
from django.utils import timezone
from djmoney.money import Money

from accounts.models import LedgerEntry
from tests.factories import UserFactory
from topups.gateways.sandbox import complete_checkout
from topups.models import SandboxCheckout, TopUp

pytestmark = pytest.mark.django_db


def start_topup(client, amount="30") -> TopUp:
    client.post("/billing/pay/", {"amount": amount})
    return TopUp.objects.get()


def status_of(client, topup):
    return client.get(f"/billing/topups/{topup.public_id}/status/")


def test_a_waiting_topup_says_waiting_and_the_page_polls_it_instead_of_reloading(client, alice):
    topup = start_topup(client)
    response = status_of(client, topup)
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    assert "no-store" in response["Cache-Control"]  # never an old answer from a cache
    assert response.json() == {
        "state": "waiting",
        "status": "pending",
        "status_label": "Awaiting payment",
        "headline": "Waiting for the payment gateway to confirm",
        "poll_ms": 3000,
    }
    page = client.get(f"/billing/topups/{topup.public_id}/").content.decode()
    assert "http-equiv" not in page
    assert 'data-topup-state="waiting"' in page and 'data-poll-ms="3000"' in page and "js/topup-status.js" in page
    assert 'role="status"' in page  # the live region the script speaks through


def test_once_paid_it_says_credited_and_asking_again_credits_nothing_more(client, alice):
    topup = start_topup(client, "45.00")
    checkout = SandboxCheckout.objects.get(session_id=topup.gateway_session_id)
    complete_checkout(checkout, outcome=SandboxCheckout.Status.PAID)  # paid at the gateway; no webhook yet

    first = status_of(client, topup).json()  # asks the gateway, as the return page does
    TopUp.objects.filter(pk=topup.pk).update(last_checked_at=None)
    second = status_of(client, topup).json()
    assert (
        first
        == second
        == {
            "state": "credited",
            "status": "credited",
            "status_label": "Credited",
            "headline": "Payment received — your balance has been credited",
            "poll_ms": None,
        }
    )
    assert LedgerEntry.objects.filter(kind="online_topup").count() == 1
    alice.account.refresh_from_db()
    assert alice.account.balance == Money("45.00", "USD")
    page = client.get(f"/billing/topups/{topup.public_id}/").content.decode()
    assert 'data-topup-state="credited"' in page and "topup-status.js" not in page  # a final state: no polling


def test_a_declined_payment_is_closed_and_not_polled(client, alice):
    topup = start_topup(client)
    TopUp.objects.filter(pk=topup.pk).update(status=TopUp.Status.FAILED, closed_at=timezone.now())
    assert status_of(client, topup).json()["state"] == "closed"
    assert status_of(client, topup).json()["poll_ms"] is None


def test_another_customers_topup_is_not_found_and_a_visitor_is_sent_to_sign_in(client, alice):
    topup = start_topup(client)
    client.force_login(UserFactory(username="mallory"))
    assert status_of(client, topup).status_code == 404
    client.logout()
    response = status_of(client, topup)
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert client.post(f"/billing/topups/{topup.public_id}/status/").status_code == 302
    client.force_login(alice)
    assert client.post(f"/billing/topups/{topup.public_id}/status/").status_code == 405  # only reads
