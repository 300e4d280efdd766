"""A customer cancels a pending checkout: closed at the gateway first, so it cannot be paid
afterwards; a payment that won the race is credited instead. The Overview shows one summary."""

import pytest
from djmoney.money import Money

from accounts.models import LedgerEntry
from tests.factories import PendingTopUpFactory, UserFactory
from topups.models import SandboxCheckout, TopUp

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(client):
    user = UserFactory(username="alice")
    client.force_login(user)
    return user


def start(client, amount: str) -> TopUp:
    client.post("/billing/pay/", {"amount": amount})
    return TopUp.objects.order_by("-id").first()


def test_cancelling_closes_the_sandbox_checkout_so_it_can_no_longer_be_paid(client, alice):
    topup = start(client, "40.00")
    response = client.post(f"/billing/topups/{topup.public_id}/cancel/")
    assert response.status_code == 303 and response["Location"] == f"/billing/topups/{topup.public_id}/"
    topup.refresh_from_db()
    assert topup.status == TopUp.Status.CANCELLED and "You cancelled" in topup.failure_reason
    session = SandboxCheckout.objects.get(session_id=topup.gateway_session_id)
    assert session.status != SandboxCheckout.Status.OPEN
    client.post(f"/sandbox-gateway/checkout/{session.session_id}/", {"outcome": "pay"})  # the payer tries anyway
    session.refresh_from_db()
    assert session.status != SandboxCheckout.Status.PAID
    assert not LedgerEntry.objects.exists()
    page = client.get(response["Location"]).content.decode()
    assert "is cancelled; its payment page can no longer be used" in page
    assert "Cancel this top-up" not in page


def test_a_payment_that_won_the_race_is_credited_not_cancelled(client, alice):
    topup = start(client, "40.00")
    SandboxCheckout.objects.filter(session_id=topup.gateway_session_id).update(status=SandboxCheckout.Status.PAID)
    response = client.post(f"/billing/topups/{topup.public_id}/cancel/", follow=True)
    topup.refresh_from_db()
    assert topup.status == TopUp.Status.CREDITED
    assert "was paid before it could be cancelled, so it was credited" in response.content.decode()
    alice.account.refresh_from_db()
    assert alice.account.balance == Money("40.00", "USD")


def test_stripe_checkout_is_expired_at_stripe_before_we_close_it(client, alice, settings, fake_stripe):
    settings.PAYMENT_GATEWAY = "stripe"
    topup = start(client, "25.00")
    client.post(f"/billing/topups/{topup.public_id}/cancel/")
    assert fake_stripe.sessions[topup.gateway_session_id]["status"] == "expired"
    topup.refresh_from_db()
    assert topup.status == TopUp.Status.CANCELLED


def test_stripe_session_completed_before_the_cancel_is_credited(client, alice, settings, fake_stripe):
    settings.PAYMENT_GATEWAY = "stripe"
    topup = start(client, "25.00")
    fake_stripe.pay(topup.gateway_session_id)  # Stripe then refuses to expire it, and we ask
    client.post(f"/billing/topups/{topup.public_id}/cancel/")
    topup.refresh_from_db()
    assert topup.status == TopUp.Status.CREDITED


def test_when_stripe_does_not_answer_nothing_is_cancelled_and_we_say_so(client, alice, settings, fake_stripe):
    settings.PAYMENT_GATEWAY = "stripe"
    topup = start(client, "25.00")
    fake_stripe.down = True
    response = client.post(f"/billing/topups/{topup.public_id}/cancel/")
    assert response.status_code == 503
    assert "not available right now" in response.content.decode()
    topup.refresh_from_db()
    assert topup.status == TopUp.Status.PENDING


def test_another_customers_top_up_is_a_404_and_get_is_refused(client, alice):
    stranger = PendingTopUpFactory()
    assert client.post(f"/billing/topups/{stranger.public_id}/cancel/").status_code == 404
    stranger.refresh_from_db()
    assert stranger.status == TopUp.Status.PENDING
    mine = start(client, "40.00")
    assert client.get(f"/billing/topups/{mine.public_id}/cancel/").status_code == 405


def test_a_forged_cancel_without_the_csrf_token_is_refused_with_the_branded_page(alice):
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(alice)
    topup = PendingTopUpFactory(account=alice.account, created_by=alice)
    response = browser.post(f"/billing/topups/{topup.public_id}/cancel/")
    assert response.status_code == 403
    assert "This form has expired" in response.content.decode()
    topup.refresh_from_db()
    assert topup.status == TopUp.Status.PENDING


def test_cancelling_a_closed_top_up_changes_nothing(client, alice):
    topup = start(client, "40.00")
    client.post(f"/billing/topups/{topup.public_id}/cancel/")
    response = client.post(f"/billing/topups/{topup.public_id}/cancel/", follow=True)
    assert "is cancelled; nothing to cancel" in response.content.decode()


def test_the_overview_shows_one_summary_and_cancels_in_place(client, alice):
    topups = [start(client, amount) for amount in ("10.00", "20.00", "30.00", "40.00")]
    page = client.get("/billing/").content.decode()
    assert page.count('data-testid="awaiting"') == 1
    assert "More than 3 payments you started are awaiting payment" in page
    assert page.count('data-testid="cancel-payment"') == 3
    assert "All payments awaiting payment" in page
    response = client.post(f"/billing/topups/{topups[-1].public_id}/cancel/", {"from": "overview"})
    assert response.status_code == 303 and response["Location"] == "/billing/"
    for topup in topups[:-1]:
        client.post(f"/billing/topups/{topup.public_id}/cancel/", {"from": "overview"})
    page = client.get("/billing/").content.decode()
    assert 'data-testid="awaiting"' not in page


def test_one_pending_payment_reads_in_the_singular(client, alice):
    start(client, "10.00")
    page = client.get("/billing/").content.decode()
    assert "One payment you started is awaiting payment" in page
