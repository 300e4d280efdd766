"""Stripe webhooks: signed with Stripe's real scheme, checked against our own TopUp."""

import json
import time

import pytest
from djmoney.money import Money

from accounts.models import LedgerEntry
from tests.factories import PendingTopUpFactory
from tests.fakes.stripe import checkout_session, event, paid_session, post_webhook, signed, stripe_signature
from tests.helpers import failing_writes, staff_login
from tests.intake import apply_stored, verdict_of
from topups.models import TopUp, WebhookDelivery

pytestmark = pytest.mark.django_db


@pytest.fixture
def topup(stripe_settings):
    return PendingTopUpFactory(amount=Money("100.00", "USD"))


def deliver(client, payload, **sign_kwargs):
    """Stripe posts the event; then the worker's part: the stored deliveries are applied."""
    body, signature = signed(payload, **sign_kwargs)
    response = post_webhook(client, body, signature)
    apply_stored()
    return response


def balance_of(topup):
    topup.account.refresh_from_db()
    return topup.account.balance


def test_completed_and_paid_credits_the_topup(client, topup):
    response = deliver(client, event("checkout.session.completed", paid_session(topup)))
    assert response.status_code == 200
    assert verdict_of(response) == "credited"
    topup.refresh_from_db()
    assert topup.status == TopUp.Status.CREDITED
    assert topup.ledger_entry.amount == Money("100.00", "USD")
    assert topup.ledger_entry.source_ref == f"topup:{topup.public_id}"
    assert balance_of(topup) == Money("100.00", "USD")


def test_a_duplicate_delivery_credits_once_and_still_answers_200(client, topup):
    payload = event("checkout.session.completed", paid_session(topup))
    for _ in range(3):
        assert deliver(client, payload).status_code == 200
    assert LedgerEntry.objects.count() == 1
    delivery = WebhookDelivery.objects.get()
    assert delivery.delivery_count == 3 and delivery.verdict == "credited"


def test_the_same_payment_announced_by_two_events_credits_once(client, topup):
    deliver(client, event("checkout.session.completed", paid_session(topup)))
    response = deliver(client, event("checkout.session.async_payment_succeeded", paid_session(topup)))
    assert verdict_of(response) == "already_credited"
    assert balance_of(topup) == Money("100.00", "USD")


def test_unpaid_completion_waits_and_async_success_then_credits(client, topup):
    unpaid = checkout_session(topup=topup, status="complete", payment_status="unpaid")
    assert verdict_of(deliver(client, event("checkout.session.completed", unpaid))) == "ignored"
    assert not LedgerEntry.objects.exists()
    assert deliver(client, event("checkout.session.async_payment_succeeded", paid_session(topup))).status_code == 200
    assert balance_of(topup) == Money("100.00", "USD")


@pytest.mark.parametrize(
    "event_type, status", [("checkout.session.async_payment_failed", "failed"), ("checkout.session.expired", "expired")]
)
def test_failure_and_expiry_close_the_topup_without_money(client, topup, event_type, status):
    assert verdict_of(deliver(client, event(event_type, checkout_session(topup=topup)))) == "closed"
    topup.refresh_from_db()
    assert topup.status == status and topup.closed_at is not None
    assert not LedgerEntry.objects.exists()


def test_late_news_never_takes_back_a_credit(client, topup):
    deliver(client, event("checkout.session.completed", paid_session(topup)))
    for late in ("checkout.session.expired", "checkout.session.async_payment_failed"):
        assert verdict_of(deliver(client, event(late, checkout_session(topup=topup)))) == "ignored"
    topup.refresh_from_db()
    assert topup.status == TopUp.Status.CREDITED
    assert balance_of(topup) == Money("100.00", "USD")


def test_a_payment_confirmed_after_expiry_is_still_credited(client, topup):
    """Money the gateway confirms is never left uncredited, even on a top-up we had closed."""
    deliver(client, event("checkout.session.expired", checkout_session(topup=topup)))
    deliver(client, event("checkout.session.async_payment_succeeded", paid_session(topup)))
    topup.refresh_from_db()
    assert topup.status == TopUp.Status.CREDITED


def _tampered(body: bytes) -> bytes:
    return body.replace(b'"amount_total": 10000', b'"amount_total": 90000')


@pytest.mark.parametrize(
    "case",
    ["bad_signature", "missing_header", "malformed_header", "stale", "future", "one_byte_changed", "wrong_secret"],
)
def test_an_untrusted_delivery_is_a_400_and_moves_no_money(client, topup, case):
    body, good = signed(event("checkout.session.completed", paid_session(topup)))
    now = int(time.time())
    signature = {
        "bad_signature": f"t={now},v1={'0' * 64}",
        "missing_header": None,
        "malformed_header": "garbage",
        "stale": stripe_signature(body, "whsec_test_current", now - 301),
        "future": stripe_signature(body, "whsec_test_current", now + 360),
        "one_byte_changed": good,
        "wrong_secret": stripe_signature(body, "whsec_someone_else", now),
    }[case]
    if case == "one_byte_changed":
        body = _tampered(body)
        assert body != signed(event("x", {}))[0]
    response = post_webhook(client, body, signature)
    assert response.status_code == 400
    assert not LedgerEntry.objects.exists()
    assert WebhookDelivery.objects.get().verdict == "rejected"


def test_rotated_secrets_and_several_v1_signatures_are_accepted(client, topup, settings):
    settings.STRIPE_WEBHOOK_SECRETS = ["whsec_new", "whsec_old"]
    body, _ = signed(event("checkout.session.completed", paid_session(topup)))
    now = int(time.time())
    old = stripe_signature(body, "whsec_old", now).split(",")[1]
    header = f"t={now},v1={'f' * 64},{old}"  # Stripe sends one v1 per active secret
    assert post_webhook(client, body, header).status_code == 200
    apply_stored()
    assert balance_of(topup) == Money("100.00", "USD")


def test_a_signed_but_unreadable_body_is_a_400_not_a_500(client, stripe_settings):
    body = b"{not json"
    response = post_webhook(client, body, stripe_signature(body, "whsec_test_current", int(time.time())))
    assert response.status_code == 400


@pytest.mark.parametrize(
    "overrides, problem",
    [
        ({"amount_total": 1000}, "amount"),
        ({"currency": "eur"}, "amount"),
        ({"metadata": {"topup": "x", "account": "999999"}}, "account"),
    ],
)
def test_a_mismatch_credits_nothing_and_is_flagged_for_finance(client, topup, overrides, problem):
    response = deliver(client, event("checkout.session.completed", paid_session(topup, **overrides)))
    assert response.status_code == 200  # genuine, so Stripe must not retry it for days
    assert verdict_of(response) == "flagged"
    topup.refresh_from_db()
    assert topup.status == TopUp.Status.PENDING and topup.needs_review
    assert problem in topup.review_note
    assert not LedgerEntry.objects.exists()


def test_an_event_for_an_unknown_session_is_acknowledged_and_ignored(client, stripe_settings):
    foreign = checkout_session(status="complete", payment_status="paid", client_reference_id="not-ours")
    response = deliver(client, event("checkout.session.completed", foreign))
    assert response.status_code == 200 and verdict_of(response) == "ignored"
    assert not LedgerEntry.objects.exists()


def test_unhandled_event_types_are_acknowledged(client, stripe_settings):
    payload = event("customer.created", {"id": "cus_123", "object": "customer"})
    response = deliver(client, payload)
    assert response.status_code == 200 and verdict_of(response) == "ignored"


def test_only_post_is_accepted_and_huge_bodies_are_refused(client, stripe_settings):
    assert client.get("/webhooks/stripe/").status_code == 405
    assert client.put("/webhooks/stripe/", data=b"{}").status_code == 405
    huge = b"{" + b" " * (1024 * 1024) + b"}"
    response = post_webhook(client, huge, stripe_signature(huge, "whsec_test_current", int(time.time())))
    assert response.status_code == 413


def test_a_gateway_that_is_not_enabled_is_a_404(client, settings):
    settings.STRIPE_SECRET_KEY = ""
    assert client.post("/webhooks/stripe/", data=b"{}", content_type="application/json").status_code == 404
    assert client.post("/webhooks/paypal/", data=b"{}", content_type="application/json").status_code == 404


@pytest.mark.django_db(transaction=True)
def test_a_handler_failure_credits_nothing_keeps_the_delivery_and_a_retry_credits_once(topup, client):
    """A real database failure in the middle of crediting (a trigger that refuses the
    ledger insert) rolls the credit back; the delivery stays with its error; Stripe's
    retry then credits exactly once."""
    payload = event("checkout.session.completed", paid_session(topup))
    with failing_writes("accounts_ledgerentry"):
        response = deliver(client, payload)
    assert response.status_code == 200 and response.json()["verdict"] == "received"  # stored, so acknowledged
    delivery = WebhookDelivery.objects.get()
    assert delivery.verdict == "error" and "injected failure" in delivery.error
    topup.refresh_from_db()
    assert topup.status == TopUp.Status.PENDING and not LedgerEntry.objects.exists()

    assert deliver(client, payload).status_code == 200
    delivery.refresh_from_db()
    assert delivery.verdict == "credited" and delivery.delivery_count == 2 and delivery.error == ""
    assert balance_of(topup) == Money("100.00", "USD")
    assert json.loads(delivery.body)["id"] == payload["id"]


def test_the_webhook_answers_received_at_once_and_the_stored_verdict_once_applied(client, topup):
    body, signature = signed(event("checkout.session.completed", paid_session(topup)))
    first = post_webhook(client, body, signature)
    assert first.json() == {"received": True, "event": json.loads(body)["id"], "verdict": "received"}
    assert not LedgerEntry.objects.exists()  # stored, not yet credited: the worker's part
    apply_stored()
    assert post_webhook(client, body, signature).json()["verdict"] == "credited"
    assert balance_of(topup) == Money("100.00", "USD")


def test_a_credit_after_a_close_clears_the_closed_state_and_notes_it_for_finance(client, topup):
    deliver(client, event("checkout.session.expired", checkout_session(topup=topup)))
    deliver(client, event("checkout.session.async_payment_succeeded", paid_session(topup)))
    topup.refresh_from_db()
    assert topup.status == TopUp.Status.CREDITED
    assert topup.closed_at is None and topup.failure_reason == ""
    assert "Credited after being expired" in topup.review_note


def test_closed_topups_tell_the_customer_why_in_plain_words(client, topup):
    deliver(client, event("checkout.session.async_payment_failed", checkout_session(topup=topup)))
    topup.refresh_from_db()
    assert topup.failure_reason == "The payment was declined or failed at the payment gateway."


def test_finance_finds_a_topup_by_the_reference_the_customer_quotes(client, topup):
    from tests.factories import UserFactory

    other = PendingTopUpFactory()
    staff_login(client, UserFactory(account=None, is_staff=True, is_superuser=True))
    page = client.get("/admin/topups/topup/", {"q": topup.reference}).content.decode()
    assert topup.reference in page and other.reference not in page
    assert "1 result" in page
    assert "0 results" in client.get("/admin/topups/topup/", {"q": "TU-000000000000"}).content.decode()


def test_unverified_posts_are_kept_for_a_while_then_purged_and_verified_ones_never(client, topup, settings):
    """Anyone can post an unsigned body, and each is kept a few KB for investigation: they had piled up
    without end. Past REJECTED_DELIVERY_KEEP_DAYS the hourly task deletes them; a verified delivery stays."""
    from datetime import timedelta

    from django.utils import timezone

    from topups.tasks import purge_rejected_deliveries

    settings.REJECTED_DELIVERY_KEEP_DAYS = 30
    for _ in range(3):
        assert post_webhook(client, b'{"id": "evt_forged"}', "t=1,v1=00").status_code == 400
    assert post_webhook(client, *signed(event("checkout.session.completed", paid_session(topup)))).status_code == 200
    long_ago = timezone.now() - timedelta(days=31)
    WebhookDelivery.objects.filter(verdict="rejected").exclude(
        pk=WebhookDelivery.objects.filter(verdict="rejected").order_by("pk").last().pk
    ).update(received_at=long_ago)
    WebhookDelivery.objects.exclude(verdict="rejected").update(received_at=long_ago)
    assert purge_rejected_deliveries() == 2
    assert WebhookDelivery.objects.filter(verdict="rejected").count() == 1  # this month's stays
    assert WebhookDelivery.objects.filter(verdict="received").count() == 1  # money's record: never purged
