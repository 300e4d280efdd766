"""Starting a Stripe Checkout and reconciling with it, against Stripe faked at HTTP level."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from djmoney.money import Money

from accounts.models import LedgerEntry
from tests.factories import PendingTopUpFactory, UserFactory
from tests.fakes.stripe import checkout_session
from tests.helpers import hidden_fields
from topups.models import TopUp
from topups.reconcile import reconcile_pending_topups, reconcile_topup

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(client, settings, fake_stripe):
    settings.PAYMENT_GATEWAY = "stripe"
    user = UserFactory(username="alice")
    client.force_login(user)
    return user


def test_next_opens_a_checkout_session_with_our_reference_and_an_idempotency_key(client, alice, fake_stripe, settings):
    response = client.post("/billing/pay/", {"amount": "250.75"})
    topup = TopUp.objects.get()
    assert response.status_code == 303
    assert response["Location"].startswith("https://checkout.stripe.com/c/pay/cs_test_")
    sent = fake_stripe.create_requests[0]
    form, headers = sent["form"], sent["headers"]
    assert headers["Idempotency-Key"] == f"topup:{topup.public_id}"
    assert headers["Stripe-Version"] == "2026-10-28.endive"
    assert form["mode"] == "payment"
    assert form["client_reference_id"] == str(topup.public_id)
    assert form["metadata[topup]"] == str(topup.public_id)
    assert form["metadata[account]"] == str(alice.account_id)
    assert form["line_items[0][price_data][unit_amount]"] == "25075"
    assert form["line_items[0][price_data][currency]"] == "usd"
    # Built from SITE_URL, never from the request's Host header.
    assert form["success_url"] == f"{settings.SITE_URL}/billing/topups/{topup.public_id}/"
    assert form["cancel_url"] == f"{settings.SITE_URL}/billing/topups/{topup.public_id}/?cancelled=1"
    assert 1800 <= int(form["expires_at"]) - int(topup.created_at.timestamp()) <= 3700
    assert topup.gateway == "stripe" and topup.gateway_session_id.startswith("cs_test_")


def test_when_stripe_is_down_the_customer_gets_a_clear_503_and_the_topup_is_closed(client, alice, fake_stripe):
    fake_stripe.down = True
    response = client.post("/billing/pay/", {"amount": "100"})
    assert response.status_code == 503
    assert "Nothing has been charged" in response.content.decode()
    topup = TopUp.objects.get()
    assert topup.status == TopUp.Status.FAILED
    assert "could not be reached" in topup.failure_reason


def test_the_return_page_asks_stripe_and_credits_a_paid_session_once(client, alice, fake_stripe):
    client.post("/billing/pay/", {"amount": "80.00"})
    topup = TopUp.objects.get()
    page = client.get(f"/billing/topups/{topup.public_id}/")
    assert "Waiting for the payment gateway" in page.content.decode()
    assert "http-equiv" not in page.content.decode()  # it polls by script (topups.return_status)
    assert f'data-status-url="/billing/topups/{topup.public_id}/status/"' in page.content.decode()

    fake_stripe.pay(topup.gateway_session_id)
    TopUp.objects.filter(pk=topup.pk).update(last_checked_at=None)
    page = client.get(f"/billing/topups/{topup.public_id}/")
    assert "your balance has been credited" in page.content.decode()
    assert 'http-equiv="refresh"' not in page.content.decode()
    client.get(f"/billing/topups/{topup.public_id}/")
    alice.account.refresh_from_db()
    assert alice.account.balance == Money("80.00", "USD")
    assert LedgerEntry.objects.count() == 1


def test_the_return_page_trusts_nothing_the_browser_says(client, alice, fake_stripe):
    """?paid=1, session ids or statuses in the URL change nothing: only Stripe's answer does."""
    client.post("/billing/pay/", {"amount": "80.00"})
    topup = TopUp.objects.get()
    client.get(f"/billing/topups/{topup.public_id}/?paid=1&status=complete&session_id={topup.gateway_session_id}")
    topup.refresh_from_db()
    assert topup.status == TopUp.Status.PENDING
    assert not LedgerEntry.objects.exists()


def test_cancel_url_shows_that_nothing_was_charged_and_stops_refreshing(client, alice, fake_stripe):
    client.post("/billing/pay/", {"amount": "80.00"})
    topup = TopUp.objects.get()
    page = client.get(f"/billing/topups/{topup.public_id}/?cancelled=1").content.decode()
    assert "Payment not completed" in page and "Return to the payment page" in page
    assert 'http-equiv="refresh"' not in page


def test_another_customers_topup_is_a_404(client, alice):
    stranger = PendingTopUpFactory()
    assert client.get(f"/billing/topups/{stranger.public_id}/").status_code == 404
    assert client.get("/billing/topups/not-a-uuid/").status_code == 404
    assert stranger.reference not in client.get("/billing/topups/").content.decode()


def test_the_reconciler_credits_paid_expires_abandoned_and_leaves_fresh_ones_alone(fake_stripe):
    now = timezone.now()
    paid = PendingTopUpFactory()
    abandoned = PendingTopUpFactory()
    fresh = PendingTopUpFactory()
    stale_open = PendingTopUpFactory()
    for topup in (paid, abandoned, fresh, stale_open):
        fake_stripe.add_session(checkout_session(topup=topup))
    fake_stripe.pay(paid.gateway_session_id)
    TopUp.objects.filter(pk__in=[paid.pk, stale_open.pk]).update(created_at=now - timedelta(minutes=30))
    TopUp.objects.filter(pk=abandoned.pk).update(created_at=now - timedelta(hours=25))

    counts = reconcile_pending_topups(now=now)

    assert counts == {"checked": 3, "credited": 1, "expired": 1}
    assert fake_stripe.sessions[abandoned.gateway_session_id]["status"] == "expired"  # closed at Stripe first
    statuses = dict(TopUp.objects.values_list("pk", "status"))
    assert statuses[paid.pk] == TopUp.Status.CREDITED
    assert statuses[abandoned.pk] == TopUp.Status.EXPIRED
    assert statuses[stale_open.pk] == statuses[fresh.pk] == TopUp.Status.PENDING
    paid.account.refresh_from_db()
    assert paid.account.balance == Money("100.00", "USD")


def test_an_abandoned_checkout_paid_at_the_last_moment_is_credited_not_expired(fake_stripe):
    topup = PendingTopUpFactory()
    fake_stripe.add_session(checkout_session(topup=topup))
    TopUp.objects.filter(pk=topup.pk).update(created_at=timezone.now() - timedelta(hours=25))
    fake_stripe.down = True
    assert reconcile_pending_topups() == {"checked": 1, "credited": 0, "expired": 0}  # gateway away: left for later
    fake_stripe.down = False
    fake_stripe.pay(topup.gateway_session_id)
    assert reconcile_pending_topups()["credited"] == 1


def test_the_same_form_submitted_twice_opens_one_checkout(client, alice, fake_stripe):
    form = {"amount": "75.00", "request_key": "form-token-1"}
    first, second = client.post("/billing/pay/", form), client.post("/billing/pay/", form)
    assert first.status_code == second.status_code == 303
    assert first["Location"] == second["Location"]
    assert TopUp.objects.count() == 1 and len(fake_stripe.create_requests) == 1


def test_the_same_page_sent_again_with_another_amount_is_refused_not_sent_to_pay_the_first(client, alice, fake_stripe):
    """Back, a new figure, Next: the page had gone to the first checkout (15.00) without a word. It is
    refused with what was sent before, and the page's fresh key starts the new payment."""
    first = client.post("/billing/pay/", {"amount": "15.00", "request_key": "k-back"})
    assert first.status_code == 303
    changed = client.post("/billing/pay/", {"amount": "1500.00", "request_key": "k-back"})
    reference = TopUp.objects.get().reference
    assert changed.status_code == 409
    assert f"This page was already sent for 15.00 USD ({reference})." in changed.content.decode()
    key = hidden_fields(changed)["request_key"]
    assert key != "k-back" and len(fake_stripe.create_requests) == 1
    again = client.post("/billing/pay/", {"amount": "1500.00", "request_key": key})
    assert again.status_code == 303 and again["Location"] != first["Location"]
    assert sorted(t.amount.amount for t in TopUp.objects.all()) == [Decimal("15.00"), Decimal("1500.00")]


def test_after_a_gateway_error_the_form_gets_a_fresh_key_so_a_retry_starts_afresh(client, alice, fake_stripe):
    fake_stripe.down = True
    failed = client.post("/billing/pay/", {"amount": "75.00", "request_key": "k1"})
    assert failed.status_code == 503
    assert 'value="k1"' not in failed.content.decode()
    fake_stripe.down = False
    key = hidden_fields(failed)["request_key"]
    assert key != "k1"
    assert client.post("/billing/pay/", {"amount": "75.00", "request_key": key}).status_code == 303
    assert TopUp.objects.filter(status=TopUp.Status.PENDING).count() == 1


def test_reconciling_while_stripe_is_down_changes_nothing(fake_stripe):
    topup = PendingTopUpFactory()
    fake_stripe.add_session(checkout_session(topup=topup))
    fake_stripe.down = True
    assert reconcile_topup(topup_id=topup.pk).status == TopUp.Status.PENDING
    assert not LedgerEntry.objects.exists()


def test_jpy_amounts_go_to_stripe_without_minor_units():
    from topups.gateways.stripe_checkout import to_minor_units
    from topups.gateways.stripe_events import from_minor_units

    assert to_minor_units(Money("500", "JPY")) == 500
    assert to_minor_units(Money("100.50", "USD")) == 10050
    assert from_minor_units(500, "jpy") == Money(Decimal("500"), "JPY")
    assert from_minor_units(10050, "usd") == Money(Decimal("100.50"), "USD")


@pytest.mark.django_db(transaction=True)
def test_a_failing_return_page_check_shows_the_status_instead_of_an_error(client, alice, fake_stripe):
    from tests.helpers import failing_writes

    client.post("/billing/pay/", {"amount": "80.00"})
    topup = TopUp.objects.get()
    with failing_writes("topups_topup", "UPDATE", "database busy"):
        page = client.get(f"/billing/topups/{topup.public_id}/")
    assert page.status_code == 200 and "Waiting for the payment gateway" in page.content.decode()


@pytest.mark.parametrize("outage", ["refused", "hung"])
def test_with_stripe_unreachable_for_real_the_pay_page_answers_503_in_bounded_time_and_closes_the_topup(
    client, stripe_settings, outage
):
    """No fake here: the SDK talks to a loopback port that refuses, or accepts and never answers."""
    import socket
    import time

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    if outage == "hung":
        listener.listen(16)  # the kernel accepts connections; nobody ever reads or answers
    port = listener.getsockname()[1]
    if outage == "refused":
        listener.close()
    stripe_settings.PAYMENT_GATEWAY = "stripe"
    stripe_settings.STRIPE_API_BASE = f"http://127.0.0.1:{port}"
    stripe_settings.STRIPE_TIMEOUT_SECONDS = 1
    client.force_login(UserFactory())
    try:
        started = time.monotonic()
        response = client.post("/billing/pay/", {"amount": "100"})
        seconds = time.monotonic() - started
    finally:
        listener.close()

    assert response.status_code == 503
    assert "Nothing has been charged" in response.content.decode()
    assert seconds < 2 * (3 + 1) + 3  # two tries of connect + read timeout, plus the SDK's backoff
    topup = TopUp.objects.get()
    assert topup.status == TopUp.Status.FAILED and not topup.gateway_session_id
    assert not LedgerEntry.objects.exists()
